"""Account pinning at the OAuth callback, through the real handlers and the fake CRMs' OAuth
endpoints, with the identity and revocation calls injected (the connector's `identify` and
`revoke`): the callback records the CRM account of new tokens, refuses a reconnect that lands on
another account (nothing stored, the new grant revoked, audited) unless step 1 said
`allow_account_change` (stored, audited, published), and decides what an identity call that fails
means for a new connection and for a reconnect."""

import functools
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from fake_crms import FakeCrms
from hypothesis import example, given
from integration_credentials.adapters.events import ACCOUNT_CHANGED, RECOVERED
from integration_credentials.adapters.providers import (
    PermanentRefreshError,
    TokenRejectedError,
    TransientRefreshError,
)
from integration_credentials.core.models import Account, utc_timestamp
from integration_credentials.logic import connect
from integration_credentials.logic.connect_account import IDENTIFY_TIMEOUT_SECONDS, REVOKE_TIMEOUT_SECONDS

from tests.integration.conftest import Stack
from tests.integration.connect_flow import callback, connect_through, fake_crms, landed, start
from tests.integration.test_connect_hostile import EXAMPLES, json_values, to_text
from tests.plaintext import leaks_in_bytes

ACME = Account("00D000000000001EAA", "Acme", "005000000000001AAA")
ACME_OTHER_USER = Account("00D000000000001EAA", "Acme", "005000000000002AAA")
GLOBEX = Account("00D000000000002EAA", "Globex", "005000000000009AAA")
INITECH = Account("00D000000000003EAA", "Initech", None)


@dataclass
class FakeIdentity:
    """The identity and revocation calls, as the connector calls them: `answers` are what the
    next identify calls return or raise, in turn (the last one repeats)."""

    answers: list[Account | Exception] = field(default_factory=lambda: [ACME])
    revoke_error: Exception | None = None
    barrier: threading.Barrier | None = None
    identified: list[tuple[str, Account | Exception]] = field(default_factory=list)
    timeouts: list[float] = field(default_factory=list)
    revoked: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def identify(self, provider: str, metadata: Any, access_token: str, **options: Any) -> Account:
        if self.barrier is not None:
            self.barrier.wait(timeout=60)  # every racing callback has its tokens before any stores
        with self.lock:
            answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
            self.identified.append((access_token, answer))
            self.timeouts.append(options["timeout"])
        if isinstance(answer, Exception):
            raise answer
        return answer

    def revoke(self, provider: str, metadata: Any, token: str, **options: Any) -> None:
        self.revoked.append({"provider": provider, "token": token, **options})
        if self.revoke_error is not None:
            raise self.revoke_error


@pytest.fixture(scope="module")
def crms(stack: Stack) -> Iterator[FakeCrms]:
    yield from fake_crms(stack)


@pytest.fixture
def identity(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeIdentity]:
    """The callback's connector built with a fake identity and revocation."""
    fake = FakeIdentity()
    monkeypatch.setattr(
        connect, "Connector", functools.partial(connect.Connector, identify=fake.identify, revoke=fake.revoke)
    )
    connect.connector.cache_clear()
    yield fake
    monkeypatch.undo()
    connect.connector.cache_clear()


@pytest.fixture
def audit_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG_FILE", str(path))

    def callbacks() -> list[dict[str, Any]]:
        lines = path.read_text().splitlines() if path.exists() else []
        return [r for r in map(json.loads, lines) if r["action"] == "connect_callback"]

    return callbacks


def stored_items(stack: Stack, credentials_id: str) -> list[str]:
    """The row and its mirror as the table holds them (every attribute, ciphertext included)."""
    items = [json.dumps(item, sort_keys=True, default=repr) for item in stack.scan()]
    return sorted(item for item in items if credentials_id in item)


def connected(api: Any, crms: FakeCrms, headers: dict[str, str], provider: str, **body: Any) -> str:
    result = landed(connect_through(api, crms, headers, provider, **body))
    assert result["status"] == "connected", result
    return result["credentials_id"]


def reconnect(api: Any, crms: FakeCrms, headers: dict[str, str], provider: str, cid: str, **body: Any) -> Any:
    return landed(connect_through(api, crms, headers, provider, credentials_id=cid, **body))


def of(event_queue: Any, credentials_id: str) -> list[str]:
    return [e["detail-type"] for e in event_queue() if e["detail"]["id"] == credentials_id]


# ---- what a connect records ----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["salesforce", "hubspot", "pipedrive", "zoho", "dynamics"])
def test_a_first_connect_records_the_account_of_the_new_tokens(api, crms, org_headers, identity, provider):
    # Given a CRM whose identity call names ACME for the new tokens
    # When the org connects it
    started_at = utc_timestamp()
    credentials_id = connected(api, crms, org_headers, provider)
    # Then the credentials carry ACME, verified now, and it was the stored token that was asked about
    body = api.get(org_headers, credentials_id).json
    assert body["account"] == {"id": ACME.id, "name": "Acme", "user": ACME.user}
    assert started_at < body["verified_at"] <= body["created_at"]
    assert [token for token, _ in identity.identified] == [body["access_token"]]
    # ...within the callback's bound for it (the user's browser is waiting)
    assert identity.timeouts == [IDENTIFY_TIMEOUT_SECONDS]
    assert identity.revoked == []


def test_a_reconnect_to_the_same_account_stores_the_new_tokens_and_the_account_as_seen_now(
    api, crms, org_headers, identity, event_queue
):
    credentials_id = connected(api, crms, org_headers, "salesforce")
    before = api.get(org_headers, credentials_id).json
    # When another user of the same Salesforce org reconnects
    identity.answers = [ACME_OTHER_USER]
    assert reconnect(api, crms, org_headers, "salesforce", credentials_id)["status"] == "connected"
    # Then the new tokens are stored, with the account as its identity call names it now
    after = api.get(org_headers, credentials_id).json
    assert after["access_token"] != before["access_token"]
    assert after["account"] == ACME_OTHER_USER.as_json()
    assert after["verified_at"] > before["verified_at"]
    # ...and no account change is announced
    assert ACCOUNT_CHANGED not in of(event_queue, credentials_id)
    assert identity.revoked == []


def test_a_reconnect_of_credentials_without_an_account_records_it(
    api, crms, org_headers, identity, event_queue
):
    # Given credentials connected while the CRM's identity call was down (no account yet)
    identity.answers = [TransientRefreshError("http_503", "unavailable"), GLOBEX]
    credentials_id = connected(api, crms, org_headers, "hubspot")
    assert api.get(org_headers, credentials_id).json["account"] is None
    # When they are reconnected
    assert reconnect(api, crms, org_headers, "hubspot", credentials_id)["status"] == "connected"
    # Then the account is recorded, and that is no change of account
    assert api.get(org_headers, credentials_id).json["account"] == GLOBEX.as_json()
    assert of(event_queue, credentials_id) == ["Integration Credentials Connected", RECOVERED]


# ---- a reconnect to another account ------------------------------------------------------------


@pytest.mark.parametrize("provider", ["salesforce", "pipedrive"])
def test_a_reconnect_to_another_account_is_refused_changes_nothing_and_revokes_the_new_grant(
    api, stack, crms, org_headers, identity, audit_file, event_queue, captured_logs, provider
):
    # Given credentials pinned to ACME
    credentials_id = connected(api, crms, org_headers, provider)
    before = api.get(org_headers, credentials_id).json
    items_before = stored_items(stack, credentials_id)
    event_queue()
    # When a reconnect's consent lands on GLOBEX
    identity.answers = [GLOBEX]
    issued_before = len(crms.issued(provider))
    result = reconnect(api, crms, org_headers, provider, credentials_id)
    # Then the browser goes back with account_mismatch and no credentials id
    assert result["error"] == "account_mismatch" and "status" not in result
    assert "credentials_id" not in result
    # ...nothing changed: the object, and every stored attribute of the row and its mirror
    assert api.get(org_headers, credentials_id).json == before
    assert stored_items(stack, credentials_id) == items_before
    assert of(event_queue, credentials_id) == []
    # ...the new grant was revoked (its refresh token), quickly
    new_access_token = identity.identified[-1][0]
    new_tokens = crms.issued(provider)[issued_before:]
    (revoked,) = identity.revoked
    assert revoked["token"] in new_tokens and revoked["token"] != new_access_token
    assert revoked["token"] not in (before["access_token"], before["metadata"]["refresh_token"])
    assert revoked["token_kind"] == "refresh_token" and revoked["provider"] == provider
    assert revoked["timeout"] == REVOKE_TIMEOUT_SECONDS
    # ...and the refusal is audited, naming both accounts and no token
    record = audit_file()[-1]
    assert record["connect_error"] == "account_mismatch" and record["reason"] == "account_mismatch"
    assert record["credentials_id"] == credentials_id
    assert (record["account_id"], record["stored_account_id"]) == (GLOBEX.id, ACME.id)
    assert record["new_grant_revoked"] == "revoked"
    secrets = [*new_tokens, before["access_token"], before["metadata"]["refresh_token"]]
    assert leaks_in_bytes(json.dumps(audit_file()) + captured_logs.getvalue(), secrets) == []


@pytest.mark.parametrize(
    "failure",
    [TransientRefreshError("http_503", "down"), PermanentRefreshError("invalid_token", "no"), OSError()],
)
def test_a_revocation_that_fails_is_logged_by_code_and_the_answer_is_the_same(
    api, stack, crms, org_headers, identity, audit_file, captured_logs, failure
):
    credentials_id = connected(api, crms, org_headers, "zoho")
    items_before = stored_items(stack, credentials_id)
    identity.answers, identity.revoke_error = [GLOBEX], failure
    result = reconnect(api, crms, org_headers, "zoho", credentials_id)
    assert result["error"] == "account_mismatch"
    assert stored_items(stack, credentials_id) == items_before
    assert audit_file()[-1]["new_grant_revoked"] == "failed"
    assert "refused grant not revoked" in captured_logs.getvalue()
    assert identity.revoked[0]["token"] not in captured_logs.getvalue()


def test_a_refused_dynamics_grant_is_not_revoked_entra_id_has_no_per_token_revocation(
    api, crms, org_headers, identity, audit_file
):
    credentials_id = connected(api, crms, org_headers, "dynamics")
    identity.answers = [GLOBEX]
    assert reconnect(api, crms, org_headers, "dynamics", credentials_id)["error"] == "account_mismatch"
    assert identity.revoked == []
    assert audit_file()[-1]["new_grant_revoked"] == "unsupported"


def test_allow_account_change_moves_the_credentials_audits_and_publishes_it(
    api, crms, org_headers, identity, audit_file, event_queue
):
    credentials_id = connected(api, crms, org_headers, "salesforce")
    before = api.get(org_headers, credentials_id).json
    event_queue()
    # When the reconnect says allow_account_change and lands on GLOBEX
    identity.answers = [GLOBEX]
    result = reconnect(api, crms, org_headers, "salesforce", credentials_id, allow_account_change=True)
    # Then the move is stored: same id, new tokens, GLOBEX
    assert result["status"] == "connected" and result["credentials_id"] == credentials_id
    after = api.get(org_headers, credentials_id).json
    assert after["account"] == GLOBEX.as_json() and after["created_at"] == before["created_at"]
    assert after["access_token"] != before["access_token"]
    # ...published as an account change (beside the reconnect's own event), and audited
    published = [event for event in event_queue() if event["detail"]["id"] == credentials_id]
    assert sorted(event["detail-type"] for event in published) == sorted([ACCOUNT_CHANGED, RECOVERED])
    record = audit_file()[-1]
    assert record["account_changed"] is True and record["status"] == 303
    assert (record["account_id"], record["previous_account_id"]) == (GLOBEX.id, ACME.id)
    assert identity.revoked == []
    # ...with no token in either
    secrets = [after["access_token"], after["metadata"]["refresh_token"]]
    assert leaks_in_bytes(json.dumps(published) + json.dumps(audit_file()), secrets) == []


def test_allow_account_change_on_a_first_connect_just_records_the_account(
    api, crms, org_headers, identity, event_queue
):
    identity.answers = [INITECH]
    credentials_id = connected(api, crms, org_headers, "pipedrive", allow_account_change=True)
    assert api.get(org_headers, credentials_id).json["account"] == {"id": INITECH.id, "name": "Initech"}
    assert of(event_queue, credentials_id) == ["Integration Credentials Connected"]


# ---- an identity call that fails at the callback -------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        TransientRefreshError("http_503", "down"),
        PermanentRefreshError("no_account", "?", reconnect_required=False),
    ],
)
def test_a_new_connection_whose_account_cannot_be_read_is_stored_without_one(
    api, crms, org_headers, identity, failure
):
    identity.answers = [failure]
    credentials_id = connected(api, crms, org_headers, "hubspot")
    body = api.get(org_headers, credentials_id).json
    assert body["status"] == "active" and body["account"] is None and body["verified_at"] is None


def test_a_reconnect_of_pinned_credentials_whose_account_cannot_be_read_is_refused(
    api, stack, crms, org_headers, identity, audit_file
):
    credentials_id = connected(api, crms, org_headers, "salesforce")
    items_before = stored_items(stack, credentials_id)
    identity.answers = [TransientRefreshError("timeout", "no answer")]
    result = reconnect(api, crms, org_headers, "salesforce", credentials_id, allow_account_change=True)
    # Refused even with allow_account_change: the old tokens stay, the new grant is kept alive
    # (it may be the stored grant's own account)
    assert result["error"] == "account_unverified"
    assert stored_items(stack, credentials_id) == items_before
    assert identity.revoked == []
    assert audit_file()[-1]["connect_error"] == "account_unverified"


def test_new_tokens_the_crm_rejects_at_once_are_refused(api, stack, crms, org_headers, identity):
    # A new connection: nothing stored
    identity.answers = [TokenRejectedError("http_401", "INVALID_SESSION_ID")]
    result = landed(connect_through(api, crms, org_headers, "salesforce"))
    assert result["error"] == "token_rejected"
    assert api.list(org_headers).json == []
    # A reconnect: nothing changed
    identity.answers = [ACME]
    credentials_id = connected(api, crms, org_headers, "salesforce")
    items_before = stored_items(stack, credentials_id)
    identity.answers = [TokenRejectedError("http_403", "Bad_OAuth_Token")]
    assert reconnect(api, crms, org_headers, "salesforce", credentials_id)["error"] == "token_rejected"
    assert stored_items(stack, credentials_id) == items_before


# ---- concurrency -------------------------------------------------------------------------------


def test_two_reconnects_racing_to_two_accounts_store_exactly_one(
    api, crms, org_headers, identity, event_queue
):
    # Given credentials without an account yet (connected while the identity call was down)
    identity.answers = [TransientRefreshError("http_503", "down")]
    credentials_id = connected(api, crms, org_headers, "hubspot")
    # When two reconnects' callbacks run at once, one landing on ACME and one on GLOBEX, both
    # holding their tokens before either stores (the barrier)
    identity.answers, identity.barrier = [ACME, GLOBEX], threading.Barrier(2)
    links = [start(api, org_headers, "hubspot", credentials_id=credentials_id).json for _ in range(2)]
    locations = [crms.consent(link["connect_url"]) for link in links]
    with ThreadPoolExecutor(2) as pool:
        results = [landed(reply) for reply in pool.map(lambda loc: callback(api, loc), locations)]
    # Then exactly one is stored; the other is refused as another account than the one just pinned
    outcomes = sorted(r.get("status") or r["error"] for r in results)
    assert outcomes == ["account_mismatch", "connected"]
    body = api.get(org_headers, credentials_id).json
    (winner,) = [
        (token, account) for token, account in identity.identified[-2:] if token == body["access_token"]
    ]
    assert body["account"] == winner[1].as_json()
    assert len(identity.revoked) == 1
    assert of(event_queue, credentials_id).count(ACCOUNT_CHANGED) == 0


def test_a_pinned_reconnect_and_another_accounts_reconnect_racing(api, crms, org_headers, identity):
    credentials_id = connected(api, crms, org_headers, "zoho")
    identity.answers, identity.barrier = [ACME, GLOBEX], threading.Barrier(2)
    links = [start(api, org_headers, "zoho", credentials_id=credentials_id).json for _ in range(2)]
    locations = [crms.consent(link["connect_url"]) for link in links]
    with ThreadPoolExecutor(2) as pool:
        results = [landed(reply) for reply in pool.map(lambda loc: callback(api, loc), locations)]
    assert sorted(r.get("status") or r["error"] for r in results) == ["account_mismatch", "connected"]
    body = api.get(org_headers, credentials_id).json
    assert body["account"]["id"] == ACME.id
    acme_token = next(token for token, account in identity.identified[-2:] if account == ACME)
    assert body["access_token"] == acme_token


# ---- step 1: the flag --------------------------------------------------------------------------


@EXAMPLES
@given(value=json_values.filter(lambda value: not isinstance(value, bool)))
@example(value="true")
@example(value=1)
@example(value=0)
@example(value=None)
@example(value=[True])
def test_allow_account_change_other_than_a_boolean_is_400(api, org_headers, value):
    body = {
        "provider": "salesforce",
        "return_url": "https://app.example.com/crm/ok",
        "credentials_id": str(uuid.uuid4()),
        "allow_account_change": value,
    }
    reply = api.call("connect_credentials", headers=org_headers, raw_body=to_text(body))
    assert reply.status == 400, reply.raw
    detail = reply.json["detail"]
    # (Infinity, which the strategy may nest in the value, is no JSON at all)
    assert detail == "Validation error: allow_account_change must be true or false" or (
        detail.startswith("Validation error: request body is not valid JSON") and "Infinity" in to_text(value)
    )


@pytest.mark.parametrize("value", [True, False])
def test_allow_account_change_is_a_boolean_of_step_one(api, org_headers, crms, value):
    reply = start(api, org_headers, "hubspot", allow_account_change=value)
    assert reply.status == 201, reply.raw
