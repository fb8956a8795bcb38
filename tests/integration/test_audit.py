"""One audit record per request, on every route and outcome, with no secret in any record."""

import json
import uuid

import pytest
from integration_credentials.adapters.audit import MARKER
from integration_credentials.adapters.auth import api_key_id, hash_api_key

from tests.conftest import SEED_BODIES
from tests.integration.conftest import JWT_SECRET, bearer, mint_key
from tests.plaintext import leaks_in_bytes


@pytest.fixture
def audit_file(tmp_path, monkeypatch):
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG_FILE", str(path))

    def records():
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return records


def test_every_request_leaves_exactly_one_record_without_secrets(api, stack, audit_file):
    # Given an org with a key and a JWT, another org, and recognisable secrets
    org_id = f"org-{uuid.uuid4()}"
    key = mint_key(stack, org_id)
    other_key = mint_key(stack, f"org-{uuid.uuid4()}")
    jwt_headers = bearer(org_id)
    secret = {
        "access_token": "AT-" + uuid.uuid4().hex,
        "new_token": "NT-" + uuid.uuid4().hex,
        "dsn": "postgres://u:PW-" + uuid.uuid4().hex + "@h/db",
        "refresh": "RT-" + uuid.uuid4().hex,
        "bad_key": "sk_live_" + uuid.uuid4().hex,
    }
    headers = {"X-API-Key": key}
    body = {**SEED_BODIES["salesforce"], "access_token": secret["access_token"], "dsn": secret["dsn"]}
    body["metadata"] = {**body["metadata"], "refresh_token": secret["refresh"]}

    # When every route is driven, with successes and failures
    calls = []

    def record(name, reply):
        calls.append((name, reply.status))
        return reply

    created = record("create", api.create(headers, body)).json
    cid = created["id"]
    record("create", api.create(headers, body))  # 409
    record("create", api.create({"X-API-Key": secret["bad_key"]}, body))  # 401
    record("list", api.list(headers))
    record("list", api.list({}))  # 401
    record("get_by_provider", api.get_by_provider(jwt_headers, "salesforce"))
    record("get_by_provider", api.get_by_provider(headers, "hubspot"))  # 404
    record("get", api.get(headers, cid))
    record("get", api.get({"X-API-Key": other_key}, cid))  # 403
    record("update", api.update(headers, cid, {"access_token": secret["new_token"]}))
    record("update", api.update(headers, cid, {"provider": "x"}))  # 400
    record(
        "update", api.update(bearer(org_id, secret="wrong-wrong-wrong-wrong-wrong-wrong"), cid, {"dsn": "y"})
    )  # 401
    record("delete", api.delete({"X-API-Key": other_key}, cid))  # 403
    record("delete", api.delete(headers, cid))
    record("delete", api.delete(headers, cid))  # 404

    # Then there is one record per request, in order, with the request's outcome
    records = audit_file()
    assert [(r["action"], r["status"]) for r in records] == calls
    assert all(r["audit"] == MARKER and r["request_id"] and r["time"].endswith("Z") for r in records)
    assert all(r["source_ip"] == "203.0.113.10" for r in records)

    # And they say who did what to which credentials
    first = records[0]
    assert first["org_id"] == org_id
    assert first["principal_type"] == "api_key"
    assert first["principal_id"] == api_key_id(hash_api_key(key))
    assert (first["credentials_id"], first["provider"]) == (cid, "salesforce")
    assert first["outcome"] == "success"
    assert (records[1]["status"], records[1]["credentials_id"]) == (409, None)  # no id that never existed
    assert records[5]["principal_type"] == "jwt" and records[5]["principal_id"] == "user-1"
    assert records[5]["credentials_id"] == cid
    forbidden = records[8]
    assert (forbidden["status"], forbidden["outcome"], forbidden["credentials_id"]) == (403, "denied", cid)
    assert records[13]["provider"] == "salesforce"  # known for a delete by id

    # And a refused caller is identified by an HMAC of what it presented, never the value
    refused = records[2]
    assert refused["reason"] == "authentication_failed" and refused["org_id"] is None
    assert len(refused["api_key_hmac"]) == 64
    again = api.create({"X-API-Key": secret["bad_key"]}, body)
    assert again.status == 401
    assert audit_file()[-1]["api_key_hmac"] == refused["api_key_hmac"]  # the same key, recognisable
    assert records[9]["access_token_hmac"] != first["access_token_hmac"]  # the rotated token differs

    # And no record holds any secret
    raw = json.dumps([*records, audit_file()[-1]])
    sent = [*secret.values(), key, other_key, jwt_headers["Authorization"].split()[1], JWT_SECRET]
    assert leaks_in_bytes(raw, sent) == []
