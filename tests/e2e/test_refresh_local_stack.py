"""Scheduled token refresh on a local stack of its own: the scheduler fans a run out over the shard
queue, the shard scanner whose range holds a credential about to expire enqueues it, the queue
carries it to the worker, the worker refreshes it at a fake Salesforce with the OAuth client
provisioned in SSM, and the API serves the new token."""

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from fake_crms import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    REFRESH_TOKEN,
    FakeEndpoint,
    salesforce,
    serve,
)

from tests.plaintext import leaks_in_bytes

from .conftest import (
    BASE,
    FAKE_AWS,
    HTTP_TIMEOUT_SECONDS,
    REGION,
    ROOT,
    TABLE_NAME,
    RunningStack,
    free_port_pair,
    start_stack,
)

# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("test_refresh_local_stack")

REFRESH_INTERVAL_SECONDS = 1
# The stack starts each function at its first invocation (a cold start each, as Lambda does): the
# scheduler, the shard scanner and the worker, one after the other, before the first refresh.
REFRESH_DEADLINE_SECONDS = 45
# Ticks to wait after the refresh before counting token requests: a second refresh would show by then.
QUIET_TICKS = 3
TOKEN_PATH = "/services/oauth2/token"
INSTANCE_URL = "https://acme.my.salesforce.com"


@pytest.fixture(scope="module")
def fake_salesforce() -> Iterator[FakeEndpoint]:
    with serve(salesforce()) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def refreshing_stack(
    tmp_path_factory: pytest.TempPathFactory, fake_salesforce: FakeEndpoint
) -> Iterator[RunningStack]:
    """A stack whose scheduler ticks every second and whose Salesforce is the fake, with the fake's
    OAuth client provisioned; logging at DEBUG so the leak check below is as strict as it can be."""
    port = free_port_pair()
    running = start_stack(
        tmp_path_factory.mktemp("refresh") / "stack.log",
        port,
        port + 1,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        LOCAL_REFRESH_INTERVAL_SECONDS=str(REFRESH_INTERVAL_SECONDS),
        OAUTH_TOKEN_URL_SALESFORCE=fake_salesforce.url(TOKEN_PATH),
        LOCAL_OAUTH_CLIENT_ID_SALESFORCE=CLIENT_ID,
        LOCAL_OAUTH_CLIENT_SECRET_SALESFORCE=CLIENT_SECRET,
    )
    assert f"Token refresh: every {REFRESH_INTERVAL_SECONDS} s" in running.banner, running.banner
    assert f"salesforce={CLIENT_ID}" in running.banner
    assert CLIENT_SECRET not in running.banner
    try:
        yield running
    finally:
        code = running.stop()
        assert code == 0, f"stack exited with {code} after SIGINT\n{running.log_tail()}"


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def get_credentials(stack: RunningStack, credentials_id: str) -> dict[str, Any]:
    response = requests.get(
        f"{stack.base_url}{BASE}/{credentials_id}",
        headers={"X-API-Key": stack.demo_api_key},
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def audit_records(stack: RunningStack, credentials_id: str) -> list[dict[str, Any]]:
    path = ROOT / ".local" / f"audit-{stack.port}.jsonl"
    if not path.exists():
        return []
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [record for record in records if record.get("credentials_id") == credentials_id]


def queue_depth(stack: RunningStack, logical_id: str) -> int:
    """Messages in one of the stack's queues, visible or in flight."""
    sqs = boto3.client(
        "sqs",
        endpoint_url=stack.aws_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )
    fifo = ".fifo" if logical_id.startswith("RefreshShard") else ""
    url = sqs.get_queue_url(QueueName=f"{TABLE_NAME}-{logical_id.lower()}{fifo}")["QueueUrl"]
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_credential_about_to_expire_is_refreshed_once_by_the_schedule(
    refreshing_stack: RunningStack, fake_salesforce: FakeEndpoint
) -> None:
    stack = refreshing_stack
    old_token = f"00D5g000001234567!AQYAQoldAccessToken-{uuid.uuid4()}"

    # Given a Salesforce credential whose access token expires in 60 s (inside the refresh margin)
    response = requests.post(
        f"{stack.base_url}{BASE}/",
        headers={"X-API-Key": stack.demo_api_key},
        json={
            "provider": "salesforce",
            "dsn": INSTANCE_URL,
            "access_token": old_token,
            "metadata": {
                "instance_url": INSTANCE_URL,
                "refresh_token": REFRESH_TOKEN,
                "token_type": "Bearer",
                "expires_at": iso_z(datetime.now(UTC) + timedelta(seconds=60)),
            },
        },
        timeout=HTTP_TIMEOUT_SECONDS,
    )
    assert response.status_code == 201, response.text
    credentials_id = response.json()["id"]

    # When the schedule runs (every second here) for at most REFRESH_DEADLINE_SECONDS
    deadline = time.monotonic() + REFRESH_DEADLINE_SECONDS
    current = get_credentials(stack, credentials_id)
    while current["access_token"] != NEW_ACCESS_TOKEN and time.monotonic() < deadline:
        time.sleep(0.25)
        current = get_credentials(stack, credentials_id)

    # Then the API serves the token the provider issued, and says when it was refreshed
    assert current["access_token"] == NEW_ACCESS_TOKEN, (
        f"not refreshed within {REFRESH_DEADLINE_SECONDS}s\n{stack.log_tail()}"
    )
    assert current["status"] == "active"
    assert isinstance(current["last_refreshed_at"], str) and current["last_refreshed_at"].endswith("Z")
    assert current["metadata"]["refresh_token"] == REFRESH_TOKEN  # Salesforce does not rotate it

    # And, a few ticks later, the provider has seen exactly one token request: the stored refresh
    # token with the OAuth client provisioned for the stack (the fake rejects any other secret)
    time.sleep(QUIET_TICKS * REFRESH_INTERVAL_SECONDS)
    assert len(fake_salesforce.received) == 1, [r.form.get("grant_type") for r in fake_salesforce.received]
    form = fake_salesforce.received[0].form
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == [REFRESH_TOKEN]
    assert form["client_id"] == [CLIENT_ID]
    assert get_credentials(stack, credentials_id)["access_token"] == NEW_ACCESS_TOKEN

    # And the queues were drained: none went to a dead-letter queue, and the live queues empty
    # between ticks (a run every second may be in flight at any one look: wait for a quiet moment)
    for queue in ("RefreshShardDeadLetterQueue", "RefreshDeadLetterQueue"):
        assert queue_depth(stack, queue) == 0, queue
    for queue in ("RefreshShardQueue", "RefreshQueue"):
        quiet_by = time.monotonic() + 10 * REFRESH_INTERVAL_SECONDS
        while queue_depth(stack, queue) and time.monotonic() < quiet_by:
            time.sleep(0.1)
        assert queue_depth(stack, queue) == 0, queue
    # each range of shards an invocation of its own
    assert re.search(
        r"RefreshShardScannerFunction took 1 message\(s\), 0 left for a retry \(ok\)", stack.log_text()
    )
    assert re.search(
        r"RefreshWorkerFunction took \d+ message\(s\), 0 left for a retry \(ok\)", stack.log_text()
    )

    # And the audit trail records the refresh of that credential
    assert any(record["action"] == "refresh" for record in audit_records(stack, credentials_id)), (
        audit_records(stack, credentials_id)
    )

    # And no token or client secret reached the stack's log
    log = stack.log_text()
    assert leaks_in_bytes(log, (old_token, NEW_ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET)) == [], (
        "a secret reached the stack's log"
    )
