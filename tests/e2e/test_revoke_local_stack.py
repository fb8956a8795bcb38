"""Revoke on delete over HTTP, on a local stack of its own: a DELETE's revocation goes through the
refresh queue to the worker, which revokes the refresh token at a fake Salesforce within a worker
cycle; `?revoke=false` sends nothing.

Needs the provider call `providers.revoke` (issue 24's identity and revocation calls): while that
is the interface's placeholder, the module is skipped."""

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fake_crms import FakeEndpoint, Received, Reply, serve
from integration_credentials.adapters import providers

from tests.plaintext import leaks_in_bytes

from .conftest import BASE, HTTP_TIMEOUT_SECONDS, ROOT, RunningStack, free_port_pair, start_stack

TICK_SECONDS = 1
REVOKE_DEADLINE_SECONDS = 20
QUIET_TICKS = 3
REVOKE_PATH = "/services/oauth2/revoke"
INSTANCE_URL = "https://acme.my.salesforce.com"


def revoke_is_built() -> bool:
    """Whether `providers.revoke` calls the provider (the placeholder refuses every provider
    without a request; the real call to a closed loopback port fails as a transient error)."""
    try:
        providers.revoke(
            "salesforce", {}, "t", token_kind="refresh_token", revoke_url="http://127.0.0.1:9/", timeout=2
        )
    except providers.PermanentRefreshError as error:
        return error.code != "unsupported_provider"
    except providers.RefreshError:
        return True
    return True


# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = [
    pytest.mark.skipif(
        not revoke_is_built(), reason="providers.revoke is still the interface's placeholder (issue 24)"
    ),
    pytest.mark.xdist_group("test_revoke_local_stack"),
]


def salesforce_revocation(received: Received) -> Reply:
    """Salesforce's revocation endpoint as documented: a form POST with `token`; 200, no body."""
    if received.method != "POST" or received.path != REVOKE_PATH or not received.form.get("token"):
        return Reply(400, {"error": "unsupported_token_type"})
    return Reply(200, b"", content_type="text/plain")


@pytest.fixture(scope="module")
def fake_revocation() -> Iterator[FakeEndpoint]:
    with serve(salesforce_revocation) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def revoking_stack(
    tmp_path_factory: pytest.TempPathFactory, fake_revocation: FakeEndpoint
) -> Iterator[RunningStack]:
    """A stack whose worker drains the queue every second, revocations visible at once, and
    whose Salesforce revocation endpoint is the fake."""
    port = free_port_pair()
    running = start_stack(
        tmp_path_factory.mktemp("revoke") / "stack.log",
        port,
        port + 1,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        LOCAL_REFRESH_INTERVAL_SECONDS=str(TICK_SECONDS),
        REVOKE_DELAY_SECONDS="0",
        OAUTH_REVOKE_URL_SALESFORCE=fake_revocation.url(REVOKE_PATH),
    )
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, f"stack exited with {code} after SIGINT\n{running.log_tail()}"


def store_salesforce(stack: RunningStack) -> tuple[str, dict[str, Any]]:
    tag = uuid.uuid4().hex
    body = {
        "provider": "salesforce",
        "dsn": INSTANCE_URL,
        "access_token": f"00D5g000001234567!AQYAQ-{tag}",
        "metadata": {"instance_url": INSTANCE_URL, "refresh_token": f"5Aep861-{tag}"},
    }
    response = requests.post(
        f"{stack.base_url}{BASE}/",
        headers={"X-API-Key": stack.demo_api_key},
        json=body,
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 201, response.text
    return response.json()["id"], body


def delete(stack: RunningStack, credentials_id: str, query: str = "") -> None:
    response = requests.delete(
        f"{stack.base_url}{BASE}/{credentials_id}{query}",
        headers={"X-API-Key": stack.demo_api_key},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text


def revoked_tokens(endpoint: FakeEndpoint) -> list[str]:
    return [token for received in endpoint.received for token in received.form.get("token", [])]


def audit_records(stack: RunningStack, credentials_id: str) -> list[dict[str, Any]]:
    path = ROOT / ".local" / f"audit-{stack.port}.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [record for line in lines if (record := json.loads(line)).get("credentials_id") == credentials_id]


def test_revoke_false_keeps_the_grant_and_a_delete_revokes_within_a_worker_cycle(
    revoking_stack: RunningStack, fake_revocation: FakeEndpoint
) -> None:
    stack = revoking_stack
    # Given Salesforce credentials deleted with ?revoke=false
    kept_id, kept = store_salesforce(stack)
    delete(stack, kept_id, "?revoke=false")
    # When the worker has run a few cycles, then the CRM was asked nothing
    time.sleep(QUIET_TICKS * TICK_SECONDS)
    assert revoked_tokens(fake_revocation) == []

    # Given Salesforce credentials deleted without it
    revoked_id, revoked = store_salesforce(stack)
    delete(stack, revoked_id)
    # When the worker runs (every second here), for at most 20 s
    deadline = time.monotonic() + REVOKE_DEADLINE_SECONDS
    while not revoked_tokens(fake_revocation) and time.monotonic() < deadline:
        time.sleep(0.25)
    # Then the CRM revoked the refresh token, once
    time.sleep(QUIET_TICKS * TICK_SECONDS)
    assert revoked_tokens(fake_revocation) == [revoked["metadata"]["refresh_token"]], stack.log_tail()
    # And the worker's audit record says so, the delete's that it was queued
    actions = [(r["action"], r["status"], r.get("revocation")) for r in audit_records(stack, revoked_id)]
    assert ("delete", 200, "queued") in actions and ("revoke", 200, None) in actions, actions
    assert ("delete", 200, "not_requested") in [
        (r["action"], r["status"], r.get("revocation")) for r in audit_records(stack, kept_id)
    ]
    # And no token reached the stack's log
    secrets = [kept["access_token"], kept["metadata"]["refresh_token"], revoked["access_token"]]
    secrets.append(revoked["metadata"]["refresh_token"])
    assert leaks_in_bytes(stack.log_text(), secrets) == []
