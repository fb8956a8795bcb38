"""A response never carries a secret the caller may not read: keys without `credentials:read`
get the non-secret fields and at most what they sent; every response is `no-store`; the audit
trail says what each response disclosed, list reads included."""

import json
import uuid

import fake_crms as fake
import pytest
from integration_credentials.core.constants import SCOPE_READ, SCOPE_REFRESH, SCOPE_WRITE
from integration_credentials.policy.disclosure import NON_SECRET_FIELDS as DISCLOSED_FIELDS

from tests.integration.conftest import mint_key

INSTANCE_URL = "https://acme.my.salesforce.com"
NON_SECRET_FIELDS = set(DISCLOSED_FIELDS)  # the list: id, org_id, provider, dsn, status, ...


def salesforce_body() -> dict:
    return {
        "provider": "salesforce",
        "dsn": INSTANCE_URL,
        "access_token": "AT-" + uuid.uuid4().hex,
        "metadata": {
            "instance_url": INSTANCE_URL,
            "refresh_token": fake.REFRESH_TOKEN,
            "client_id": fake.CLIENT_ID,
            "client_secret": fake.CLIENT_SECRET,
            "nested": {"api_token": "NESTED-" + uuid.uuid4().hex, "region": "eu"},
        },
    }


@pytest.fixture
def keys(stack):
    org_id = f"org-{uuid.uuid4()}"

    def key(*scopes: str) -> dict[str, str]:
        return {"X-API-Key": mint_key(stack, org_id, frozenset(scopes))}

    return {
        "full": key(SCOPE_READ, SCOPE_WRITE, SCOPE_REFRESH),
        "write": key(SCOPE_WRITE),
        "refresh": key(SCOPE_REFRESH),
        "read": key(SCOPE_READ),
        "write_refresh": key(SCOPE_WRITE, SCOPE_REFRESH),
    }


@pytest.fixture
def audit_file(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG_FILE", str(path))
    return lambda: [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def secrets_of(body: dict) -> list[str]:
    return [
        body["access_token"],
        body["metadata"]["refresh_token"],
        body["metadata"]["client_secret"],
        body["metadata"]["nested"]["api_token"],
    ]


def test_a_write_only_update_returns_no_stored_secret(api, keys):
    # Given credentials holding an access token, a refresh token, a client secret and a nested token
    sent = salesforce_body()
    created = api.create(keys["full"], sent).json
    # When a write-only key sends an update that carries no token (the probe of the review)
    reply = api.update(keys["write"], created["id"], {"metadata": {}})
    # Then it is applied, but the answer holds the non-secret fields only: no stored secret
    assert reply.status == 200, reply.raw
    for secret in secrets_of(sent):
        assert secret not in reply.raw
    assert set(reply.json) == NON_SECRET_FIELDS | {"metadata"}
    assert reply.json["metadata"] == {}
    assert reply.json["dsn"] == INSTANCE_URL and reply.headers["ETag"] == '"2"'
    # And a key that may read still gets everything
    assert api.get(keys["full"], created["id"]).json["access_token"] == sent["access_token"]


def test_a_write_only_update_echoes_what_it_sent_but_never_a_secret_metadata_key(api, keys):
    created = api.create(keys["full"], salesforce_body()).json
    new_token = "AT-NEW-" + uuid.uuid4().hex
    new_refresh = "RT-NEW-" + uuid.uuid4().hex
    # When a write-only key rotates the token, adds a hint and a refresh token, removes a key
    reply = api.update(
        keys["write"],
        created["id"],
        {
            "access_token": new_token,
            "metadata": {"region": "eu-west", "refresh_token": new_refresh, "client_id": None},
        },
    )
    # Then it gets back the token and the non-secret hint it sent; not the refresh token it sent
    assert reply.status == 200, reply.raw
    assert reply.json["access_token"] == new_token
    assert reply.json["metadata"] == {"region": "eu-west"}
    assert new_refresh not in reply.raw and fake.CLIENT_SECRET not in reply.raw
    # And the update was stored whole
    stored = api.get(keys["read"], created["id"]).json
    assert stored["access_token"] == new_token and stored["metadata"]["refresh_token"] == new_refresh
    assert "client_id" not in stored["metadata"]


def test_a_write_only_create_echoes_the_token_and_non_secret_metadata(api, keys):
    sent = salesforce_body()
    reply = api.create(keys["write"], sent)
    assert reply.status == 201, reply.raw
    assert reply.json["access_token"] == sent["access_token"]
    assert reply.json["metadata"] == {
        "instance_url": INSTANCE_URL,
        "client_id": fake.CLIENT_ID,
        "nested": {"region": "eu"},
    }
    for secret in secrets_of(sent)[1:]:
        assert secret not in reply.raw
    # The same with an Idempotency-Key, and its replay
    sent = {**salesforce_body(), "provider": "hubspot"}
    headers = {"Idempotency-Key": str(uuid.uuid4())}
    first = api.create(keys["write"], sent, headers_extra=headers)
    again = api.create(keys["write"], sent, headers_extra=headers)
    assert first.status == again.status == 201
    assert first.json == again.json and fake.REFRESH_TOKEN not in again.raw


def test_a_full_key_keeps_the_seed_responses(api, keys):
    sent = salesforce_body()
    created = api.create(keys["full"], sent)
    assert created.json["metadata"] == sent["metadata"]
    updated = api.update(keys["full"], created.json["id"], {"metadata": {}})
    assert updated.json["access_token"] == sent["access_token"]
    assert updated.json["metadata"] == sent["metadata"]


def test_a_refresh_only_key_gets_the_new_access_token_and_nothing_else_secret(api, keys, salesforce_endpoint):
    salesforce_endpoint(fake.salesforce())
    created = api.create(keys["full"], salesforce_body()).json
    # When a refresh-only key refreshes (a sync job after a CRM 401)
    reply = api.refresh(keys["refresh"], created["id"])
    # Then it gets the new access token and expiry, never the refresh token or client secret
    assert reply.status == 200, reply.raw
    assert reply.json["access_token"] == fake.NEW_ACCESS_TOKEN
    assert reply.json["expires_at"] is not None
    assert set(reply.json) == NON_SECRET_FIELDS | {"access_token", "metadata"}
    assert reply.json["metadata"] == {}
    assert fake.REFRESH_TOKEN not in reply.raw and fake.CLIENT_SECRET not in reply.raw


def test_write_and_refresh_without_read_is_still_restricted(api, keys, salesforce_endpoint):
    salesforce_endpoint(fake.salesforce())
    created = api.create(keys["write_refresh"], salesforce_body()).json
    assert fake.REFRESH_TOKEN not in json.dumps(created)
    reply = api.refresh(keys["write_refresh"], created["id"])
    assert reply.status == 200 and fake.REFRESH_TOKEN not in reply.raw


def test_every_response_is_no_store(api, keys, salesforce_endpoint):
    salesforce_endpoint(fake.salesforce())
    full = keys["full"]
    created = api.create(full, salesforce_body())
    cid = created.json["id"]
    replies = {
        "create": created,
        "get": api.get(full, cid),
        "get_by_provider": api.get_by_provider(full, "salesforce"),
        "list": api.list(full),
        "update": api.update(full, cid, {"metadata": {"a": 1}}),
        "refresh": api.refresh(full, cid),
        "refused": api.get(keys["write"], cid),
        "not_found": api.get(full, str(uuid.uuid4())),
        "delete": api.delete(full, cid),
    }
    for name, reply in replies.items():
        assert reply.headers.get("Cache-Control") == "no-store", name
        assert reply.headers.get("Pragma") == "no-cache", name


def test_the_audit_trail_says_who_read_a_credential(api, keys, audit_file):
    # Given two credentials
    a = api.create(keys["full"], salesforce_body()).json["id"]
    b = api.create(keys["full"], {**salesforce_body(), "provider": "hubspot"}).json["id"]
    # When they are listed, read by update with and without read scope
    api.list(keys["read"])
    api.update(keys["full"], a, {"metadata": {}})
    api.update(keys["write"], a, {"metadata": {}})
    records = audit_file()
    by_action = [(r["action"], r.get("disclosed"), r.get("credentials_ids")) for r in records]
    # Then the list names the ids it returned, and each record says what it disclosed
    assert ("list", "secrets", [a, b]) in by_action or ("list", "secrets", [b, a]) in by_action
    assert by_action[-2] == ("update", "secrets", None)
    assert by_action[-1] == ("update", "none", None)
    assert [r["action"] for r in records if r.get("disclosed") == "echo"] == ["create", "create"]
    # "Who read credential a?": every record that returned its secrets names it
    readers = [
        r
        for r in records
        if r.get("disclosed") == "secrets"
        and (r.get("credentials_id") == a or a in r.get("credentials_ids", []))
    ]
    assert [r["action"] for r in readers] == ["list", "update"]
