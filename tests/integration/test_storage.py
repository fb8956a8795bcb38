"""What reaches the table, the KMS call budget, DynamoDB calls per request, and races on the
repository (threads: the repository and cipher are shared by one process's requests)."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
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


def test_dynamodb_calls_per_request(api, stack, org_headers):
    api.list(org_headers)  # warm: the API key is cached
    created, dynamo, _ = calls_for(stack, lambda: api.create(org_headers, SEED_BODIES["salesforce"]))
    assert dynamo == 1
    credentials_id = created.json["id"]
    budget = {
        "get_by_provider": (lambda: api.get_by_provider(org_headers, "salesforce"), 1),
        "list": (lambda: api.list(org_headers), 1),
        "get": (lambda: api.get(org_headers, credentials_id), 2),
        "update": (lambda: api.update(org_headers, credentials_id, {"access_token": "n"}), 2),
        "delete": (lambda: api.delete(org_headers, credentials_id), 2),
    }
    for name, (action, limit) in budget.items():
        reply, dynamo, _ = calls_for(stack, action)
        assert reply.status == 200, name
        assert dynamo <= limit, name


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
