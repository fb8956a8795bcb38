"""Verifying credentials against their CRM (POST /integration-credentials/{id}/verify), with the
CRM's identity call replaced by a programmable fake (the `crm` fixture): what is recorded, what is published, tenancy, a concurrent PUT, and the refresh a
refused OAuth token gets first (against the fake Salesforce token endpoint)."""

import json
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import fake_crms as fake
import pytest
from integration_credentials.adapters.providers import (
    PermanentRefreshError,
    TokenRejectedError,
    TransientRefreshError,
)
from integration_credentials.core.constants import SCOPE_READ, SCOPE_WRITE
from integration_credentials.core.models import Account

from tests.integration.conftest import mint_key, reset_process_state
from tests.integration.test_refresh import item, salesforce_body
from tests.plaintext import leaks_in_items

PIPEDRIVE_TOKEN = "pd-api-token-" + "0123456789abcdef" * 2
ACME = Account("1234567", "acme.pipedrive.com", "42")  # the `crm` fixture's default answer
OTHER = Account("7654321", "other.pipedrive.com", "7")
NON_SECRET = {
    "id",
    "org_id",
    "provider",
    "dsn",
    "metadata",
    "created_at",
    "updated_at",
    "status",
    "expires_at",
    "last_refreshed_at",
    "last_error",
    "account",
    "verified_at",
}


def pipedrive_body(token: str = PIPEDRIVE_TOKEN) -> dict[str, Any]:
    """Pipedrive credentials holding an API token: no refresh touches them."""
    return {
        "provider": "pipedrive",
        "dsn": "https://acme.pipedrive.com",
        "access_token": token,
        "metadata": {"api_domain": "https://acme.pipedrive.com"},
    }


def created(api: Any, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    answer = api.create(headers, body)
    assert answer.status == 201, answer.raw
    result: dict[str, Any] = answer.json
    return result


def rejected(code: str = "http_401") -> TokenRejectedError:
    return TokenRejectedError(code, "the CRM refused the token")


# ---- the route -----------------------------------------------------------------------------------


def test_a_verification_records_the_account_and_answers_only_non_secret_fields(
    api, stack, org_headers, org_id, crm, event_queue
):
    # Given Pipedrive credentials never verified
    body = created(api, org_headers, pipedrive_body())
    assert body["account"] is None and body["verified_at"] is None
    # When they are verified
    answer = api.verify(org_headers, body["id"])
    # Then the CRM was asked with the stored token, and the answer names the account, the time of
    # the check and the status, and no secret (not even for a caller that may read them)
    assert answer.status == 200, answer.raw
    verified = answer.json
    assert [call["access_token"] for call in crm.calls] == [PIPEDRIVE_TOKEN]
    assert set(verified) == NON_SECRET
    assert verified["metadata"] == {}
    assert verified["account"] == {"id": "1234567", "name": "acme.pipedrive.com", "user": "42"}
    assert verified["verified_at"] >= body["created_at"]
    assert verified["status"] == "active" and verified["last_error"] is None
    assert answer.headers["ETag"] == '"2"'
    assert answer.headers["Cache-Control"] == "no-store"
    # And every read shows the account, as a plaintext attribute beside the ciphertext
    read = api.get(org_headers, body["id"]).json
    assert read["account"] == verified["account"] and read["verified_at"] == verified["verified_at"]
    assert read["access_token"] == PIPEDRIVE_TOKEN
    stored = item(stack, org_id, "pipedrive")
    assert stored["account_id"] == {"S": "1234567"}
    assert not leaks_in_items([stored], [PIPEDRIVE_TOKEN])
    # And a first account is no change: nothing is published
    assert event_queue() == []


def test_verifying_again_changes_only_verified_at_and_publishes_nothing(api, org_headers, crm, event_queue):
    body = created(api, org_headers, pipedrive_body())
    first = api.verify(org_headers, body["id"]).json
    second = api.verify(org_headers, body["id"])
    assert second.status == 200
    assert second.json["account"] == first["account"]
    assert second.json["verified_at"] > first["verified_at"]
    assert event_queue() == []


def test_tenancy_scope_and_unknown_ids(api, stack, org_headers, other_org_headers, org_id, crm):
    body = created(api, org_headers, pipedrive_body())
    # Another org's id is a 403, as on the other routes, and the CRM is not asked
    denied = api.verify(other_org_headers, body["id"])
    assert denied.status == 403
    assert denied.json == {"detail": "You do not have permission to access this resource"}
    # An unknown id (or no id at all) is a 404, no key a 401
    missing = str(uuid.uuid4())
    assert api.verify(org_headers, missing).json == {"detail": f"Integration credentials {missing} not found"}
    assert api.verify(org_headers, "not-a-uuid").status == 404
    assert api.verify({}, body["id"]).status == 401
    # It needs credentials:read: a write-only key is refused, a read-only one may
    write_only = {"X-API-Key": mint_key(stack, org_id, frozenset({SCOPE_WRITE}))}
    assert api.verify(write_only, body["id"]).status == 403
    # And nothing the refused callers did asked the CRM or changed the credentials
    assert crm.calls == []
    assert api.get(org_headers, body["id"]).json == body
    read_only = {"X-API-Key": mint_key(stack, org_id, frozenset({SCOPE_READ}))}
    assert api.verify(read_only, body["id"]).status == 200


def test_a_provider_without_an_identity_call_is_409(api, org_headers, crm):
    body = created(
        api, org_headers, {"provider": "custom", "dsn": "https://crm.example.com", "access_token": "t"}
    )
    answer = api.verify(org_headers, body["id"])
    assert answer.status == 409
    assert answer.json == {
        "detail": f"Integration credentials {body['id']} cannot be verified: provider 'custom' has no identity call"
    }
    assert crm.calls == []
    assert api.get(org_headers, body["id"]).json == body


def test_a_refused_api_token_is_reauth_required_with_its_event_once(
    api, stack, org_headers, org_id, crm, event_queue
):
    # Given Pipedrive credentials whose API token the CRM now refuses
    body = created(api, org_headers, pipedrive_body())
    crm.default = rejected()
    # When they are verified
    answer = api.verify(org_headers, body["id"])
    # Then the check succeeded and its answer is bad news: 200, reauth_required, why
    assert answer.status == 200, answer.raw
    assert answer.json["status"] == "reauth_required"
    assert answer.json["last_error"] == {"code": "http_401", "message": "the CRM refused the token"}
    assert answer.json["verified_at"] is None
    # And the event says so, without the token
    events = event_queue()
    assert [e["detail-type"] for e in events] == ["Integration Credentials Reauthorization Required"]
    assert events[0]["detail"]["id"] == body["id"] and events[0]["detail"]["status"] == "reauth_required"
    assert PIPEDRIVE_TOKEN not in json.dumps(events)
    # And the scheduler stops verifying it
    assert "refresh_due" not in item(stack, org_id, "pipedrive")
    # When it is verified again, nothing changes, nothing is published
    again = api.verify(org_headers, body["id"])
    assert again.json["status"] == "reauth_required"
    assert event_queue() == []


def test_a_token_the_crm_accepts_again_recovers(api, org_headers, crm, event_queue):
    body = created(api, org_headers, pipedrive_body())
    crm.default = rejected()
    api.verify(org_headers, body["id"])
    event_queue()
    # When the CRM accepts the token again (the key was re-enabled)
    crm.default = ACME
    answer = api.verify(org_headers, body["id"]).json
    # Then the credentials are active again and the event says they recovered
    assert answer["status"] == "active" and answer["last_error"] is None
    assert answer["account"] == ACME.as_json()
    assert [e["detail-type"] for e in event_queue()] == ["Integration Credentials Recovered"]


def test_a_crm_that_is_down_leaves_the_status_and_says_why(api, org_headers, crm, event_queue):
    body = created(api, org_headers, pipedrive_body())
    first = api.verify(org_headers, body["id"]).json
    crm.default = TransientRefreshError("http_503", "the CRM answered 503", retry_after=30)
    answer = api.verify(org_headers, body["id"])
    assert answer.status == 200
    assert answer.json["status"] == "active"
    assert answer.json["last_error"] == {"code": "http_503", "message": "the CRM answered 503"}
    # What was known stays: the account and the last successful check
    assert answer.json["account"] == first["account"] and answer.json["verified_at"] == first["verified_at"]
    # An answer naming no account says nothing about the grant either
    crm.default = PermanentRefreshError(
        "invalid_answer", "no account in the answer", reconnect_required=False
    )
    assert api.verify(org_headers, body["id"]).json["status"] == "active"
    assert event_queue() == []
    # And the next successful check clears the error
    crm.default = ACME
    assert api.verify(org_headers, body["id"]).json["last_error"] is None


def test_another_account_is_stored_and_announced(api, org_headers, crm, event_queue):
    body = created(api, org_headers, pipedrive_body())
    api.verify(org_headers, body["id"])
    # When the token turns out to belong to another account
    crm.default = OTHER
    answer = api.verify(org_headers, body["id"]).json
    # Then the new account is stored, and the event names both
    assert answer["account"] == OTHER.as_json()
    assert api.get(org_headers, body["id"]).json["account"] == OTHER.as_json()
    events = event_queue()
    assert [e["detail-type"] for e in events] == ["Integration Credentials Account Changed"]
    assert events[0]["detail"]["account"] == OTHER.as_json()
    assert events[0]["detail"]["previous_account"] == ACME.as_json()
    assert events[0]["detail"]["id"] == body["id"]
    assert PIPEDRIVE_TOKEN not in json.dumps(events)


def test_a_refused_oauth_token_is_refreshed_once_and_checked_again(
    api, stack, org_headers, crm, salesforce_endpoint, event_queue
):
    # Given Salesforce credentials whose access token the CRM refuses, and a refresh that works
    endpoint = salesforce_endpoint(fake.salesforce())
    body = created(api, org_headers, salesforce_body())
    crm.answers[body["access_token"]] = rejected("Bad_OAuth_Token")
    crm.answers[fake.NEW_ACCESS_TOKEN] = Account("00D000000000001EAA", "acme", "005000000000001AAA")
    # When the credentials are verified by a cold instance (no data key cached)
    reset_process_state()
    stack.aws.reset_calls()
    answer = api.verify(org_headers, body["id"])
    # Then the new tokens were encrypted under a data key of their own (the verify function's
    # GenerateDataKey grant, which the IAM proof holds to a test that uses it)
    assert stack.aws.calls()[("kms", "GenerateDataKey")] >= 1
    # Then the token was refreshed once, the new one checked, and the account recorded
    assert answer.status == 200, answer.raw
    assert len(endpoint.received) == 1
    assert [call["access_token"] for call in crm.calls] == [body["access_token"], fake.NEW_ACCESS_TOKEN]
    assert answer.json["account"]["id"] == "00D000000000001EAA"
    assert answer.json["status"] == "active" and answer.json["last_refreshed_at"] is not None
    assert "access_token" not in answer.json
    # And the stored token is the new one; the credential's own OAuth app went with the call
    read = api.get(org_headers, body["id"]).json
    assert read["access_token"] == fake.NEW_ACCESS_TOKEN and read["verified_at"] == answer.json["verified_at"]
    assert crm.calls[0]["client"].client_id == fake.CLIENT_ID
    assert event_queue() == []


def test_a_refused_oauth_token_whose_grant_is_dead_is_reauth_required(
    api, org_headers, crm, salesforce_endpoint, event_queue
):
    endpoint = salesforce_endpoint(fake.salesforce("dead"))
    body = created(api, org_headers, salesforce_body())
    crm.default = rejected()
    answer = api.verify(org_headers, body["id"])
    assert answer.status == 200, answer.raw
    assert answer.json["status"] == "reauth_required"
    assert answer.json["last_error"]["code"] == "invalid_grant"
    assert len(endpoint.received) == 1 and len(crm.calls) == 1
    assert [e["detail-type"] for e in event_queue()] == ["Integration Credentials Reauthorization Required"]
    # A dead grant is not refreshed again: asked again, the CRM is, the token endpoint is not
    assert api.verify(org_headers, body["id"]).json["status"] == "reauth_required"
    assert len(endpoint.received) == 1
    assert event_queue() == []


def test_a_refreshed_token_the_crm_refuses_too_is_reauth_required(api, org_headers, crm, salesforce_endpoint):
    endpoint = salesforce_endpoint(fake.salesforce())
    body = created(api, org_headers, salesforce_body())
    crm.default = rejected("http_403")
    answer = api.verify(org_headers, body["id"]).json
    assert answer["status"] == "reauth_required" and answer["last_error"]["code"] == "http_403"
    assert len(endpoint.received) == 1
    assert [call["access_token"] for call in crm.calls] == [body["access_token"], fake.NEW_ACCESS_TOKEN]


def test_a_put_during_a_verification_is_never_overwritten(api, org_headers, crm):
    # Given credentials, and a CRM that holds its first answer until a PUT has replaced the token
    body = created(api, org_headers, pipedrive_body())
    new_token = "pd-api-token-new-" + uuid.uuid4().hex
    crm.answers[PIPEDRIVE_TOKEN] = ACME
    crm.answers[new_token] = OTHER
    asked, put_done = threading.Event(), threading.Event()

    def hold_first(token: str) -> None:
        if token == PIPEDRIVE_TOKEN:
            asked.set()
            assert put_done.wait(30)

    crm.before_answer = hold_first
    # When a verification runs while a PUT replaces the token
    with ThreadPoolExecutor(1) as pool:
        verifying = pool.submit(api.verify, org_headers, body["id"])
        assert asked.wait(30)
        updated = api.update(org_headers, body["id"], {"access_token": new_token})
        put_done.set()
        answer = verifying.result(60)
    # Then both succeed: the PUT's token is kept, and the account recorded is the new token's
    # (the old token's answer was not written over the PUT)
    assert updated.status == 200 and answer.status == 200, answer.raw
    assert [call["access_token"] for call in crm.calls] == [PIPEDRIVE_TOKEN, new_token]
    read = api.get(org_headers, body["id"]).json
    assert read["access_token"] == new_token
    assert read["account"] == OTHER.as_json() == answer.json["account"]
    assert int(answer.headers["ETag"].strip('"')) == 3


def test_concurrent_verifications_both_answer_and_agree(api, org_headers, crm):
    body = created(api, org_headers, pipedrive_body())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: api.verify(org_headers, body["id"]), range(4)))
    assert [answer.status for answer in answers] == [200] * 4
    assert {json.dumps(answer.json["account"]) for answer in answers} == {json.dumps(ACME.as_json())}
    assert api.get(org_headers, body["id"]).json["account"] == ACME.as_json()


# ---- POST /integration-credentials/?verify=true ----------------------------------------------------


def org_rows(stack: Any, org_id: str) -> list[dict[str, Any]]:
    return [row for row in stack.scan() if row.get("org_id", {}).get("S") == org_id]


def test_a_create_the_crm_accepts_carries_the_account(api, org_headers, crm):
    answer = api.create(org_headers, pipedrive_body(), query={"verify": "true"})
    assert answer.status == 201, answer.raw
    assert answer.json["account"] == ACME.as_json()
    assert answer.json["verified_at"] <= answer.json["created_at"]  # checked, then stored
    assert [call["access_token"] for call in crm.calls] == [PIPEDRIVE_TOKEN]
    assert api.get(org_headers, answer.json["id"]).json == answer.json


def test_a_create_the_crm_refuses_is_400_and_stores_nothing(api, stack, org_headers, org_id, crm):
    crm.default = rejected()
    answer = api.create(org_headers, pipedrive_body(), query={"verify": "true"})
    assert answer.status == 400
    assert answer.json == {
        "detail": "The CRM rejected these credentials: http_401: the CRM refused the token"
    }
    assert PIPEDRIVE_TOKEN not in answer.raw
    assert org_rows(stack, org_id) == []
    assert api.get_by_provider(org_headers, "pipedrive").status == 404


def test_a_create_while_the_crm_is_down_is_503_and_stores_nothing(api, stack, org_headers, org_id, crm):
    crm.default = TransientRefreshError("http_503", "the CRM answered 503", retry_after=30)
    answer = api.create(org_headers, pipedrive_body(), query={"verify": "true"})
    assert answer.status == 503
    assert answer.headers["Retry-After"] == "30"
    assert answer.json == {
        "detail": "The pipedrive API is unavailable (http_503): the credentials were not verified nor "
        "stored; retry later"
    }
    assert org_rows(stack, org_id) == []
    # An answer that names no account is the CRM's fault too: 502, nothing stored
    crm.default = PermanentRefreshError("invalid_answer", "no account", reconnect_required=False)
    assert api.create(org_headers, pipedrive_body(), query={"verify": "true"}).status == 502
    assert org_rows(stack, org_id) == []


def test_a_create_without_verify_is_the_seeds(api, org_headers, crm):
    for query in (None, {"verify": "false"}):
        answer = api.create(org_headers, pipedrive_body(), query=query)
        assert answer.status == 201, answer.raw
        assert answer.json["account"] is None and answer.json["verified_at"] is None
        assert api.delete(org_headers, answer.json["id"]).status == 200
    assert crm.calls == []


@pytest.mark.parametrize("value", ["TRUE", "1", "yes", "", "true ", "truefalse"])
def test_a_bad_verify_value_is_400(api, stack, org_headers, org_id, crm, value):
    answer = api.create(org_headers, pipedrive_body(), query={"verify": value})
    assert answer.status == 400
    assert answer.json == {"detail": "Validation error: verify must be true or false"}
    assert crm.calls == [] and org_rows(stack, org_id) == []


def test_verify_on_a_provider_without_an_identity_call_is_400(api, stack, org_headers, org_id, crm):
    body = {"provider": "custom", "dsn": "https://crm.example.com", "access_token": "t"}
    answer = api.create(org_headers, body, query={"verify": "true"})
    assert answer.status == 400
    assert answer.json == {
        "detail": "Validation error: verify: provider 'custom' has no identity call to verify against"
    }
    assert org_rows(stack, org_id) == []


def test_an_idempotency_key_replays_only_the_same_verify(api, org_headers, crm):
    key = {"Idempotency-Key": "verify-" + uuid.uuid4().hex}
    first = api.create(org_headers, pipedrive_body(), headers_extra=key, query={"verify": "true"})
    assert first.status == 201 and first.json["account"] == ACME.as_json()
    # The same request again: the same 201, without asking the CRM again
    again = api.create(org_headers, pipedrive_body(), headers_extra=key, query={"verify": "true"})
    assert again.status == 201 and again.json == first.json
    assert len(crm.calls) == 1
    # The same key without verify is another request: never the verified answer replayed
    other = api.create(org_headers, pipedrive_body(), headers_extra=key)
    assert other.status == 409
    assert other.json == {"detail": "Idempotency-Key was already used with a different request body"}


def test_an_idempotency_key_first_used_without_verify_is_not_replayed_with_it(api, org_headers, crm):
    key = {"Idempotency-Key": "verify-" + uuid.uuid4().hex}
    assert api.create(org_headers, pipedrive_body(), headers_extra=key).status == 201
    answer = api.create(org_headers, pipedrive_body(), headers_extra=key, query={"verify": "true"})
    assert answer.status == 409
    assert crm.calls == []
