"""Verification over HTTP on `make run FAKE_CRMS=1`'s stack, with the REAL identity calls
(`adapters.providers.identify`) against the fake CRMs' identity endpoints.

WAITING FOR THE IDENTITY CALLS: these tests need the real `identify` (issue 24, built in parallel)
and the fakes' identity endpoints, with `make run` pointing `CRM_API_URL_<PROVIDER>` at the fakes.
Until that lands they fail (`identify` is a placeholder that raises), so they carry the
`needs_identity_calls` marker: `pytest -m needs_identity_calls` runs exactly them, and
`-m "not needs_identity_calls"` leaves them out. What they assume of the fakes is only what the
issue asks of them: a token a fake issued is accepted by its identity endpoint and names an
account; a token it never issued is refused with 401.
"""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fake_crms import press_consent

from tests.e2e.conftest import (
    BASE,
    TABLE_NAME,
    RunningStack,
    aws_client,
    free_port_pair,
    mint_api_key,
    start_stack,
)
from tests.e2e.test_connect_http import HINTS, post_connect

# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = [pytest.mark.needs_identity_calls, pytest.mark.xdist_group("test_verify_fake_crms")]

TIMEOUT = 30
SCHEDULE_DEADLINE_SECONDS = 30


@pytest.fixture(scope="module")
def verifying_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """`make run FAKE_CRMS=1` with the scheduler ticking every second."""
    port = free_port_pair()
    running = start_stack(
        tmp_path_factory.mktemp("verify-stack") / "stack.log",
        port,
        port + 1,
        LOCAL_FAKE_CRMS="1",
        LOCAL_REFRESH_INTERVAL_SECONDS="1",
    )
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


def connected(stack: RunningStack, key: str, provider: str) -> str:
    """Connect `provider` through its fake (the user presses Allow); the new credentials' id."""
    body = {"provider": provider, "return_url": f"http://127.0.0.1:{stack.port}/crm/done"}
    if HINTS[provider]:
        body["metadata"] = HINTS[provider]
    started = post_connect(stack, key, body)
    assert started.status_code == 201, started.text
    back = requests.get(press_consent(started.json()["connect_url"]), allow_redirects=False, timeout=TIMEOUT)
    assert back.status_code == 303, back.text
    landed = dict(
        part.split("=", 1) for part in back.headers["Location"].split("?", 1)[1].split("&") if "=" in part
    )
    return landed["credentials_id"]


def call(stack: RunningStack, key: str, method: str, path: str, **kw: Any) -> requests.Response:
    return requests.request(
        method, f"{stack.base_url}{path}", headers={"X-API-Key": key}, timeout=TIMEOUT, **kw
    )


@pytest.mark.parametrize("provider", sorted(HINTS))
def test_verify_records_the_account_the_fake_crm_names(verifying_stack, provider):
    key = mint_api_key(verifying_stack, f"org-verify-{provider}-{uuid.uuid4()}")
    credentials_id = connected(verifying_stack, key, provider)
    answer = call(verifying_stack, key, "POST", f"{BASE}/{credentials_id}/verify")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert "access_token" not in body and body["metadata"] == {}
    assert body["status"] == "active" and body["last_error"] is None
    assert isinstance(body["account"]["id"], str) and body["account"]["id"]
    assert body["verified_at"] is not None
    read = call(verifying_stack, key, "GET", f"{BASE}/{credentials_id}").json()
    assert read["account"] == body["account"] and read["verified_at"] == body["verified_at"]


@pytest.mark.parametrize("provider", ["hubspot", "pipedrive"])
def test_a_create_with_verify_and_a_token_the_crm_never_issued_is_400_and_stores_nothing(
    verifying_stack, provider
):
    key = mint_api_key(verifying_stack, f"org-verify-bad-{provider}-{uuid.uuid4()}")
    token = ("pat-na1-" if provider == "hubspot" else "") + "made-up-" + uuid.uuid4().hex
    body = {"provider": provider, "dsn": "https://crm.example.com", "access_token": token, "metadata": {}}
    answer = call(verifying_stack, key, "POST", f"{BASE}/?verify=true", json=body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("The CRM rejected these credentials: ")
    assert token not in answer.text
    assert call(verifying_stack, key, "GET", f"{BASE}/provider/{provider}").status_code == 404


def test_scheduled_verification_reaches_a_credential_without_a_refresh_token(verifying_stack):
    # Given credentials connected through the fake Salesforce, whose refresh token is then removed
    key = mint_api_key(verifying_stack, f"org-verify-schedule-{uuid.uuid4()}")
    credentials_id = connected(verifying_stack, key, "salesforce")
    removed = call(
        verifying_stack, key, "PUT", f"{BASE}/{credentials_id}", json={"metadata": {"refresh_token": None}}
    )
    assert removed.status_code == 200, removed.text
    before = removed.json()
    # ...and due for their verification now (the period's slot moved to the past)
    dynamodb = aws_client(verifying_stack, "dynamodb")
    dynamodb.update_item(
        TableName=TABLE_NAME,
        Key={"org_id": {"S": before["org_id"]}, "provider": {"S": "salesforce"}},
        UpdateExpression="SET refresh_due = :due",
        ConditionExpression="attribute_exists(refresh_due)",
        ExpressionAttributeValues={":due": {"N": str(int(time.time()) - 5)}},
    )
    # When the scheduler and the worker of `make run` tick, then the verification is recorded
    deadline = time.monotonic() + SCHEDULE_DEADLINE_SECONDS
    while True:
        read = call(verifying_stack, key, "GET", f"{BASE}/{credentials_id}").json()
        if read["verified_at"] is not None and read["verified_at"] > before["updated_at"]:
            break
        assert time.monotonic() < deadline, verifying_stack.log_tail()
        time.sleep(0.5)
    assert read["account"] is not None and read["status"] == "active"
    assert read["access_token"] == before["access_token"]  # verified, not refreshed
