"""What reaches the table, the KMS call budget, DynamoDB calls per request, and races on the
repository (threads: the repository and cipher are shared by one process's requests)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from integration_credentials.adapters.storage.credentials import credentials_repository
from integration_credentials.core.bodies.update import CredentialsUpdate
from integration_credentials.core.errors import CredentialsAlreadyExistError, CredentialsIntegrityError
from integration_credentials.logic.credentials import credentials_service

from tests.conftest import SEED_BODIES
from tests.integration.conftest import reset_process_state
from tests.plaintext import leaks_in_items

SECRETS = {
    "access_token": "00D5g000001234567!AQYAQ-secret-token",
    "dsn": "postgres://admin:hunter2@crm.internal:5432/sales",
    "metadata": {"refresh_token": "5Aep861-refresh-secret", "api_token": "pd-api-token-secret", "n": 31337},
}


def calls_for(stack, action):
    stack.aws.reset_calls()
    reply = action()
    counts = stack.aws.calls()
    return (
        reply,
        sum(v for (svc, _), v in counts.items() if svc == "dynamodb"),
        sum(v for (svc, _), v in counts.items() if svc == "kms"),
    )


def test_secrets_never_reach_the_table_in_plaintext(api, stack, org_headers):
    # Given credentials stored, updated and read through every route
    created = api.create(org_headers, {"provider": "custom", **SECRETS}).json
    api.update(org_headers, created["id"], {"metadata": {"client_secret": "oauth-client-secret-value"}})
    api.get(org_headers, created["id"])
    # When the raw table is scanned
    items = stack.scan()
    raw = json.dumps(items, default=lambda b: b.decode("latin-1"))
    # Then no secret appears in any attribute, text or binary, in any encoding
    secrets = [SECRETS["access_token"], SECRETS["dsn"], "5Aep861-refresh-secret", "pd-api-token-secret",
               "hunter2", "oauth-client-secret-value"]  # fmt: skip
    assert leaks_in_items(items, secrets) == []
    # And ids, provider and timestamps stay plaintext (queryable)
    assert created["id"] in raw and '"custom"' in raw and created["created_at"] in raw


def test_a_ciphertext_copied_into_another_orgs_row_fails_to_decrypt(
    api, stack, org_id, org_headers, other_org_headers
):
    # Given two orgs with credentials for the same provider
    api.create(org_headers, {"provider": "custom", **SECRETS})
    victim = api.create(other_org_headers, {"provider": "custom", "dsn": "x", "access_token": "y"}).json
    table = stack.resources.table_name
    mine = stack.dynamodb.get_item(
        TableName=table, Key={"org_id": {"S": org_id}, "provider": {"S": "custom"}}
    )["Item"]
    # When an attacker with table access copies org A's ciphertext into org B's row
    stack.dynamodb.update_item(
        TableName=table,
        Key={"org_id": {"S": victim["org_id"]}, "provider": {"S": "custom"}},
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": mine["ciphertext"]},
    )
    # Then reading org B's row is an error, never org A's secrets and never an empty value
    reply = api.get_by_provider(other_org_headers, "custom")
    assert reply.status == 500
    assert reply.json == {"detail": f"Stored credentials {victim['id']} failed an integrity check"}
    assert SECRETS["access_token"] not in reply.raw
    with pytest.raises(CredentialsIntegrityError):
        credentials_service().get_by_provider(victim["org_id"], "custom")


def test_tampered_ciphertext_is_an_integrity_error(api, stack, org_id, org_headers):
    api.create(org_headers, {"provider": "custom", **SECRETS})
    table = stack.resources.table_name
    key = {"org_id": {"S": org_id}, "provider": {"S": "custom"}}
    blob = bytearray(stack.dynamodb.get_item(TableName=table, Key=key)["Item"]["ciphertext"]["B"])
    blob[-40] ^= 0x01
    stack.dynamodb.update_item(
        TableName=table,
        Key=key,
        UpdateExpression="SET ciphertext = :c",
        ExpressionAttributeValues={":c": {"B": bytes(blob)}},
    )
    assert api.get_by_provider(org_headers, "custom").status == 500


def test_warm_reads_make_no_kms_call(api, stack, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    api.get(org_headers, created["id"])  # first read: one KMS Decrypt for the data key
    for read in (
        lambda: api.get(org_headers, created["id"]),
        lambda: api.get_by_provider(org_headers, "salesforce"),
        lambda: api.list(org_headers),
    ):
        for _ in range(5):
            _, _, kms = calls_for(stack, read)
            assert kms == 0


def operations_for(stack, action):
    stack.aws.reset_calls()
    reply = action()
    return reply, {op: n for (svc, op), n in stack.aws.calls().items() if svc == "dynamodb"}


def test_dynamodb_calls_per_request(api, stack, org_headers):
    # One call for create, get by provider and list. A by-id route reads the row (its key known
    # to the instance, which wrote or read the id before); a write after that is one UpdateItem
    # of the row (the mirror never changes), a delete one transaction over the row, its mirror
    # and the org's count.
    api.list(org_headers)  # warm: the API key is cached
    created, calls = operations_for(stack, lambda: api.create(org_headers, SEED_BODIES["salesforce"]))
    assert calls == {"TransactWriteItems": 1}
    credentials_id = created.json["id"]
    budget = {
        "get_by_provider": (lambda: api.get_by_provider(org_headers, "salesforce"), {"GetItem": 1}),
        "list": (lambda: api.list(org_headers), {"Query": 1}),
        "get": (lambda: api.get(org_headers, credentials_id), {"GetItem": 1}),
        "update": (
            lambda: api.update(org_headers, credentials_id, {"access_token": "n"}),
            {"GetItem": 1, "UpdateItem": 1},
        ),
        "delete": (lambda: api.delete(org_headers, credentials_id), {"GetItem": 1, "TransactWriteItems": 1}),
    }
    for name, (action, expected) in budget.items():
        reply, calls = operations_for(stack, action)
        assert reply.status == 200, name
        assert calls == expected, name


def test_an_id_new_to_the_instance_is_read_through_its_mirror_once(api, stack, org_headers, captured_logs):
    # Given credentials written by another instance (this one has not seen their id)
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    credentials_repository().clear_caches()
    api.list(org_headers)  # the API key cached
    # When they are read by id twice, then the first read is the mirror and the row, the next
    # the row alone; and once deleted, the id is not found (the row's read says so)
    first, calls = operations_for(stack, lambda: api.get(org_headers, created["id"]))
    assert (first.status, calls) == (200, {"GetItem": 2})
    again, calls = operations_for(stack, lambda: api.get(org_headers, created["id"]))
    assert (again.json, calls) == (first.json, {"GetItem": 1})
    stack.dynamodb.transact_write_items(
        TransactItems=[
            {"Delete": {"TableName": stack.resources.table_name, "Key": key}}
            for key in (
                {"org_id": {"S": created["org_id"]}, "provider": {"S": "hubspot"}},
                mirror_key(created["id"]),
            )
        ]
    )
    gone, calls = operations_for(stack, lambda: api.get(org_headers, created["id"]))
    assert (gone.status, calls) == (404, {"GetItem": 1})
    # ...nor once the provider's row holds new credentials (another id): no integrity alarm either
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 201
    assert api.get(org_headers, created["id"]).status == 404
    assert "integrity check failed" not in captured_logs.getvalue()


def raw_item(stack, key):
    return stack.dynamodb.get_item(TableName=stack.resources.table_name, Key=key, ConsistentRead=True).get(
        "Item"
    )


def mirror_key(credentials_id):
    return {"org_id": {"S": f"ID#{credentials_id}"}, "provider": {"S": "ID"}}


def test_an_id_mirror_is_the_key_of_its_row_and_no_update_writes_it(api, stack, org_id, org_headers):
    # Given credentials created
    created = api.create(org_headers, {"provider": "custom", **SECRETS}).json
    mirror = raw_item(stack, mirror_key(created["id"]))
    # Then their mirror names the row and copies nothing of it (no ciphertext, no state)
    assert mirror == {
        **mirror_key(created["id"]),
        "id": {"S": created["id"]},
        "owner_org_id": {"S": org_id},
        "owner_provider": {"S": "custom"},
    }
    # When they are updated, then the row changed and the mirror did not
    updated = api.update(org_headers, created["id"], {"access_token": "rotated-access-token"})
    assert updated.status == 200
    assert raw_item(stack, mirror_key(created["id"])) == mirror
    assert api.get(org_headers, created["id"]).json == updated.json


def test_a_mirror_that_copied_its_row_is_read_as_a_pointer_to_the_row(api, stack, org_id, org_headers):
    # Given credentials whose mirror is a whole copy of the row at version 1, as mirrors were
    # written before they held only the key, and a later PUT that wrote the row alone
    created = api.create(org_headers, {"provider": "custom", **SECRETS}).json
    row = raw_item(stack, {"org_id": {"S": org_id}, "provider": {"S": "custom"}})
    copy = {name: value for name, value in row.items() if name not in {"refresh_shard", "lease_owner"}}
    copy |= {**mirror_key(created["id"]), "owner_org_id": {"S": org_id}, "owner_provider": {"S": "custom"}}
    stack.dynamodb.put_item(TableName=stack.resources.table_name, Item=copy)
    credentials_repository().clear_caches()  # an instance that has not seen the id: reads the mirror
    updated = api.update(org_headers, created["id"], {"access_token": "newer-than-the-mirror"})
    assert updated.status == 200
    # When they are read by id (by an instance new to the id), then the row's current tokens and
    # version come back
    credentials_repository().clear_caches()
    read, calls = operations_for(stack, lambda: api.get(org_headers, created["id"]))
    assert calls == {"GetItem": 2}
    assert (read.status, read.headers["ETag"]) == (200, '"2"')
    assert read.json["access_token"] == "newer-than-the-mirror"
    # ...and a PUT against the current version, then a delete, go through that mirror too
    again = api.update(org_headers, created["id"], {"dsn": "postgres://x"}, headers_extra={"If-Match": '"2"'})
    assert (again.status, again.json["access_token"]) == (200, "newer-than-the-mirror")
    assert api.delete(org_headers, created["id"]).status == 200
    assert raw_item(stack, mirror_key(created["id"])) is None
    assert api.get(org_headers, created["id"]).status == 404


def test_sixteen_concurrent_creates_give_one_winner(stack, org_id):
    reset_process_state()
    service = credentials_service()
    from integration_credentials.core.bodies.create import CredentialsCreate

    body = CredentialsCreate.model_validate(SEED_BODIES["salesforce"])

    def attempt(_):
        try:
            return service.create(org_id, body).body["id"]
        except CredentialsAlreadyExistError:
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(attempt, range(16)))
    winners = [r for r in results if r]
    assert len(winners) == 1
    assert service.get_by_provider(org_id, "salesforce").body["id"] == winners[0]
    assert len([i for i in stack.scan() if i.get("owner_org_id", {}).get("S") == org_id]) == 1


def test_concurrent_updates_lose_nothing(stack, org_id):
    reset_process_state()
    service = credentials_service()
    from integration_credentials.core.bodies.create import CredentialsCreate

    created = service.create(org_id, CredentialsCreate.model_validate(SEED_BODIES["hubspot"])).body

    def patch(n):
        return service.update(org_id, created["id"], CredentialsUpdate(metadata={f"key{n}": n}))

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(patch, range(8)))
    metadata = service.get_by_id(org_id, created["id"]).body["metadata"]
    assert {f"key{n}": n for n in range(8)}.items() <= metadata.items()
    assert metadata["portal_id"] == "12345678"
