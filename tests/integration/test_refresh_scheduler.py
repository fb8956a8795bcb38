"""Scheduled token refresh on embedded AWS: a run's shard scanners find what is due through the
sparse `refresh-due` index (no scan, nothing read that is not due) within its limits, the
scheduler, shard scanner and worker handlers as Lambda invokes them, duplicate deliveries, outages
retried through SQS, and the backoff of a failing provider. How a run fans out over its shards
(each visited once, a failed range retried alone, limits across ranges): test_refresh_fanout.py."""

import copy
import json
import math
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import fake_crms as fake
import pytest
from fake_crms import Reply
from integration_credentials.adapters.storage.keys import refresh_shard
from integration_credentials.adapters.storage.refresh_index import RefreshIndex
from integration_credentials.core.constants import REFRESH_SHARDS
from integration_credentials.core.settings import Settings, SettingsError, get_settings
from integration_credentials.logic.credentials import credentials_service
from integration_credentials.logic.refresh import TokenRefresher
from integration_credentials.logic.scheduler import enqueue_due
from local_stack.events import sqs_event as local_sqs_event
from local_stack.lambda_runtime import FakeLambdaContext
from local_stack.template import ROOT, function_environment, function_timeout_of_directory

from tests.integration.conftest import load_function, mint_key, reset_process_state

INSTANCE_URL = "https://acme.my.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"
OLD_ACCESS_TOKEN = "00D5g000001234567!AQYAQoldAccessToken0123456789"

# The population: 10,000 credentials rows, of which 100 are due, 9,700 scheduled far ahead and
# 200 not scheduled at all. The due ones sit in an epoch window long past (DUE_FROM...), so at
# SCALE_NOW only they are due, whatever other tests left in the shared table.
POPULATION_DUE = 100
POPULATION_LATER = 9_700
POPULATION_UNSCHEDULED = 200
DUE_FROM = 1_000_000
SCALE_NOW = DUE_FROM + POPULATION_DUE
# The limit tests use their own rows, in windows older than the population's due ones.
BATCH_WINDOW = 400_000
PROVIDER_WINDOW = 600_000
# No refresh provider but hubspot is limited in these tests.
OTHER_PROVIDERS = ("salesforce", "pipedrive", "zoho", "dynamics")
BATCH_WRITE_SIZE = 25
WRITERS = 8
# The module's tests run together on one worker: its 10,000-row population is built once.
pytestmark = pytest.mark.xdist_group("refresh_scheduler_population")


# ---- rows straight into the table ------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    org_id: str
    provider: str
    id: str
    refresh_due: int | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.org_id, self.provider, self.id)

    def item(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "org_id": {"S": self.org_id},
            "provider": {"S": self.provider},
            "id": {"S": self.id},
        }
        if self.refresh_due is not None:
            item["refresh_shard"] = {"S": refresh_shard(self.id)}
            item["refresh_due"] = {"N": str(self.refresh_due)}
        return item


def new_rows(prefix: str, dues: list[int | None], providers: tuple[str, ...]) -> list[Row]:
    """One row per due time (None: not scheduled), each in an org of its own."""
    return [
        Row(f"{prefix}-{index:05d}", providers[index % len(providers)], str(uuid.uuid4()), due)
        for index, due in enumerate(dues)
    ]


def batch_write(stack: Any, requests: list[dict[str, Any]]) -> None:
    """BatchWriteItem, 25 requests a call, a few calls in flight, unprocessed items resent."""
    table = stack.resources.table_name

    def write(chunk: list[dict[str, Any]]) -> None:
        pending: dict[str, Any] = {table: chunk}
        while pending:
            pending = stack.dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    chunks = [requests[i : i + BATCH_WRITE_SIZE] for i in range(0, len(requests), BATCH_WRITE_SIZE)]
    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, chunks))


def put_rows(stack: Any, rows: list[Row]) -> None:
    batch_write(stack, [{"PutRequest": {"Item": row.item()}} for row in rows])


def delete_rows(stack: Any, rows: list[Row]) -> None:
    batch_write(
        stack,
        [
            {"DeleteRequest": {"Key": {"org_id": {"S": row.org_id}, "provider": {"S": row.provider}}}}
            for row in rows
        ],
    )


def mark_refreshed(stack: Any, keys: set[tuple[str, str, str]]) -> None:
    """What the worker does to a credential it refreshed: schedule it ahead of its new expiry."""
    later = int(time.time()) + 86_400
    for org_id, provider, _id in keys:
        stack.dynamodb.update_item(
            TableName=stack.resources.table_name,
            Key={"org_id": {"S": org_id}, "provider": {"S": provider}},
            UpdateExpression="SET refresh_due = :later",
            ExpressionAttributeValues={":later": {"N": str(later)}},
        )


def stored_item(stack: Any, org_id: str, provider: str = "salesforce") -> dict[str, Any]:
    found: dict[str, Any] = stack.dynamodb.get_item(
        TableName=stack.resources.table_name,
        Key={"org_id": {"S": org_id}, "provider": {"S": provider}},
        ConsistentRead=True,
    )["Item"]
    return found


# ---- queues ----------------------------------------------------------------------------------------


def sqs_client(stack: Any) -> Any:
    return boto3.client("sqs", endpoint_url=stack.aws.endpoint)


@pytest.fixture
def queue(stack: Any) -> Iterator[str]:
    """A queue of this test's own, so what it holds is exactly what the scheduler sent."""
    sqs = sqs_client(stack)
    url: str = sqs.create_queue(QueueName=f"refresh-scheduler-test-{uuid.uuid4().hex[:16]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def drain(stack: Any, queue_url: str) -> list[dict[str, Any]]:
    """Receive and delete every message, ten at a time; the JSON bodies."""
    sqs = sqs_client(stack)
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        bodies.extend(json.loads(message["Body"]) for message in messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                for index, message in enumerate(messages)
            ],
        )


def keys_of(bodies: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    for body in bodies:
        assert set(body) == {"org_id", "provider", "id"}, body
    return [(body["org_id"], body["provider"], body["id"]) for body in bodies]


def scheduler_settings(**update: Any) -> Settings:
    return get_settings().replace(**update)


def run_scheduler(stack: Any, queue_url: str, now: float, **update: Any) -> Any:
    """A whole run (every range's visit, one after the other), its counts added up."""
    index = RefreshIndex(stack.resources.table_name, stack.dynamodb)
    return enqueue_due(index, sqs_client(stack), queue_url, now=now, settings=scheduler_settings(**update))


# ---- the population ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Population:
    due: list[Row]
    later: list[Row]
    unscheduled: list[Row]


@pytest.fixture(scope="module")
def population(stack: Any) -> Iterator[Population]:
    """10,000 credentials rows written straight into the shared table; deleted afterwards."""
    prefix = f"org-sched-{uuid.uuid4().hex[:8]}"
    far_future = int(time.time()) + 10 * 365 * 86_400
    providers = (*OTHER_PROVIDERS, "hubspot")
    built = Population(
        due=new_rows(f"{prefix}-due", [DUE_FROM + i for i in range(POPULATION_DUE)], OTHER_PROVIDERS),
        later=new_rows(f"{prefix}-later", [far_future + i for i in range(POPULATION_LATER)], providers),
        unscheduled=new_rows(f"{prefix}-none", [None] * POPULATION_UNSCHEDULED, providers),
    )
    everything = built.due + built.later + built.unscheduled
    put_rows(stack, everything)
    yield built
    delete_rows(stack, everything)


@pytest.fixture
def due_rows(stack: Any) -> Iterator[Any]:
    """Write due rows for one test (in its own window); they are deleted after it."""
    written: list[Row] = []

    def write(window: int, count: int, providers: tuple[str, ...]) -> list[Row]:
        prefix = f"org-sched-{uuid.uuid4().hex[:8]}-{providers[0]}"
        rows = new_rows(prefix, [window + i for i in range(count)], providers)
        put_rows(stack, rows)
        written.extend(rows)
        return rows

    yield write
    delete_rows(stack, written)


# ---- 1. at scale ----------------------------------------------------------------------------------------


def test_the_scheduler_reads_only_what_is_due_one_query_per_shard(stack, population, queue):
    # Given 10,000 credentials: 100 due, 9,700 due far ahead, 200 never refreshed
    assert len(population.due + population.later + population.unscheduled) == 10_000
    before = stack.aws.calls()
    # When the scheduler runs
    run = run_scheduler(stack, queue, SCALE_NOW)
    calls = stack.aws.calls()
    calls.subtract(before)
    # Then exactly the 100 due credentials are in the queue, each once, as {org_id, provider, id}
    enqueued = keys_of(drain(stack, queue))
    assert len(enqueued) == POPULATION_DUE
    assert set(enqueued) == {row.key for row in population.due}
    assert run.summary()["enqueued"] == POPULATION_DUE
    assert run.summary()["by_provider"] == dict(Counter(row.provider for row in population.due))
    assert run.deferred == 0
    # And it read nothing that was not due, with one Query per shard, never a Scan
    assert run.items_read == POPULATION_DUE
    assert run.queries == REFRESH_SHARDS
    assert calls[("dynamodb", "Query")] == REFRESH_SHARDS
    assert calls[("dynamodb", "Scan")] == 0
    # And it sent them ten to a SendMessageBatch (each range's visit sends its own last, partial one)
    ranges = get_settings().refresh_shard_scanners
    assert (
        math.ceil(POPULATION_DUE / 10) <= calls[("sqs", "SendMessageBatch")] <= POPULATION_DUE / 10 + ranges
    )
    assert calls[("sqs", "SendMessage")] == 0


def test_a_run_with_nothing_due_reads_nothing(stack, population, queue):
    # Given the same 10,000 credentials, at a moment before any of them is due
    before = stack.aws.calls()
    # When the scheduler runs
    run = run_scheduler(stack, queue, DUE_FROM - 1)
    calls = stack.aws.calls()
    calls.subtract(before)
    # Then nothing is read, nothing is sent
    assert drain(stack, queue) == []
    assert (run.items_read, run.summary()["enqueued"]) == (0, 0)
    assert calls[("dynamodb", "Query")] == REFRESH_SHARDS
    assert calls[("sqs", "SendMessageBatch")] == 0


# ---- 2. limits -------------------------------------------------------------------------------------------


# The limits within one shard scanner's visit: a run of one range, whose share is the whole limit.
# Their split over a run's ranges, and that they hold across them: test_refresh_fanout.py.
ONE_RANGE = {"refresh_shard_scanners": 1}


def test_the_batch_limit_leaves_the_rest_due_for_the_next_runs(stack, population, queue, due_rows):
    # Given 100 credentials due (among the 10,000), and at most 30 enqueued per run
    rows = due_rows(BATCH_WINDOW, 100, OTHER_PROVIDERS)
    now = BATCH_WINDOW + 100
    seen: list[tuple[str, str, str]] = []
    per_run: list[int] = []
    # When the scheduler runs four times, the workers refreshing what each run enqueued
    for _run in range(4):
        run = run_scheduler(stack, queue, now, refresh_batch_limit=30, **ONE_RANGE)
        enqueued = keys_of(drain(stack, queue))
        assert run.summary()["enqueued"] == len(enqueued)
        assert run.items_read == len(enqueued)  # it stops reading when the budget is spent
        per_run.append(len(enqueued))
        seen.extend(enqueued)
        if len(per_run) == 1:
            # Then the first run enqueued 30, and the other 70 are still due
            assert len(enqueued) == 30
            again = run_scheduler(stack, queue, now, refresh_batch_limit=1000, **ONE_RANGE)
            still_due = set(keys_of(drain(stack, queue)))
            assert still_due == {row.key for row in rows}
            assert again.summary()["enqueued"] == 100
        mark_refreshed(stack, set(enqueued))
    # Then the runs enqueued 30, 30, 30 and 10, and every credential exactly once
    assert per_run == [30, 30, 30, 10]
    assert len(seen) == len(set(seen)) == 100
    assert set(seen) == {row.key for row in rows}
    # And a fifth run finds nothing left
    assert run_scheduler(stack, queue, now, refresh_batch_limit=30, **ONE_RANGE).summary()["enqueued"] == 0
    assert drain(stack, queue) == []


def test_a_provider_limit_defers_only_that_providers_credentials(stack, population, queue, due_rows):
    # Given 20 HubSpot credentials due and 30 of other providers, at most 5 HubSpot per run
    hubspot = due_rows(PROVIDER_WINDOW, 20, ("hubspot",))
    others = due_rows(PROVIDER_WINDOW + 20, 30, OTHER_PROVIDERS)
    now = PROVIDER_WINDOW + 100
    # When the scheduler runs
    run = run_scheduler(stack, queue, now, refresh_provider_limits={"hubspot": 5}, **ONE_RANGE)
    enqueued = keys_of(drain(stack, queue))
    # Then 5 HubSpot credentials are enqueued, every other one is, and the 15 left are deferred
    assert len(enqueued) == len(set(enqueued)) == 35
    first_hubspot = {key for key in enqueued if key[1] == "hubspot"}
    assert len(first_hubspot) == 5 and first_hubspot <= {row.key for row in hubspot}
    assert {key for key in enqueued if key[1] != "hubspot"} == {row.key for row in others}
    assert run.summary()["by_provider"]["hubspot"] == 5
    assert run.deferred == 15
    # And once those are refreshed, the next run enqueues the next 5 HubSpot ones
    mark_refreshed(stack, set(enqueued))
    second = run_scheduler(stack, queue, now, refresh_provider_limits={"hubspot": 5}, **ONE_RANGE)
    next_hubspot = set(keys_of(drain(stack, queue)))
    assert len(next_hubspot) == 5 and next_hubspot <= {row.key for row in hubspot}
    assert not next_hubspot & first_hubspot
    assert second.deferred == 10


# ---- API-created credentials ----------------------------------------------------------------------------


def iso_z(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_z(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def due_salesforce_body() -> dict[str, Any]:
    """Salesforce credentials whose access token expired: due for refresh as soon as stored."""
    return {
        "provider": "salesforce",
        "dsn": INSTANCE_URL,
        "access_token": OLD_ACCESS_TOKEN,
        "metadata": {
            "instance_url": INSTANCE_URL,
            "refresh_token": fake.REFRESH_TOKEN,
            "client_id": fake.CLIENT_ID,
            "client_secret": fake.CLIENT_SECRET,
            "token_type": "Bearer",
            "expires_at": iso_z(timedelta(minutes=-5)),
        },
    }


def create_due(api: Any, headers: dict[str, str]) -> dict[str, Any]:
    created = api.create(headers, due_salesforce_body())
    assert created.status == 201, created.raw
    body: dict[str, Any] = created.json
    return body


@pytest.fixture
def fake_salesforce(tuned: Any) -> Iterator[Any]:
    """Serve a (switchable) Salesforce token endpoint and point the salesforce refresh at it."""
    behaviour: list[fake.Behaviour] = [fake.salesforce()]

    def behave(received: fake.Received) -> Reply:
        return behaviour[0](received)

    with fake.serve(behave) as endpoint:
        tuned(OAUTH_TOKEN_URL_SALESFORCE=endpoint.url(TOKEN_PATH))

        def switch(new: fake.Behaviour) -> None:
            behaviour[0] = new

        endpoint.switch = switch  # type: ignore[attr-defined]
        yield endpoint


def context(name: str, timeout: float | None = None) -> FakeLambdaContext:
    """A fresh invocation's context of functions/<name>, with its template Timeout (or `timeout`)."""
    seconds = timeout if timeout is not None else function_timeout_of_directory(name)
    return FakeLambdaContext(function_name=name, aws_request_id=str(uuid.uuid4()), timeout_seconds=seconds)


# ---- 3. the scheduler handler ---------------------------------------------------------------------------


def test_the_scheduled_handler_starts_a_run_whose_scanner_enqueues_a_due_credential(
    api, stack, org_headers, org_id, tuned
):
    # Given the stack's shard and refresh queues (as the template wires them), emptied, and
    # credentials that expired
    scheduler_env = function_environment(
        stack.resources.refs, stack.resources.attributes, "RefreshSchedulerFunction"
    )
    scanner_env = function_environment(
        stack.resources.refs, stack.resources.attributes, "RefreshShardScannerFunction"
    )
    shard_queue, queue_url = scheduler_env["REFRESH_SHARD_QUEUE_URL"], scanner_env["REFRESH_QUEUE_URL"]
    assert (shard_queue, queue_url) == (
        stack.resources.refs["RefreshShardQueue"],
        stack.resources.refs["RefreshQueue"],
    )
    tuned(REFRESH_QUEUE_URL=queue_url, REFRESH_SHARD_QUEUE_URL=shard_queue)
    for url in (shard_queue, queue_url):
        drain(stack, url)
    created = create_due(api, org_headers)
    # When EventBridge invokes the scheduler (an event of its own: a redelivered one is the same run)
    event = json.loads((ROOT / "events" / "refresh_scheduler.json").read_text()) | {"id": str(uuid.uuid4())}
    summary = load_function("refresh_scheduler").lambda_handler(event, context("refresh_scheduler"))
    # Then it answers with the run it started: the template's ranges over every shard
    assert summary["visits"] == int(scheduler_env["REFRESH_SHARD_SCANNERS"])
    assert summary["shards"] == REFRESH_SHARDS
    # When the shard scanner takes each range's message, one invocation each
    scanner = load_function("refresh_shard_scanner")
    arn = stack.resources.attributes[("RefreshShardQueue", "Arn")]
    visits = 0
    while (
        messages := sqs_client(stack)
        .receive_message(QueueUrl=shard_queue, MaxNumberOfMessages=1, AttributeNames=["All"])
        .get("Messages", [])
    ):
        record_event = local_sqs_event(messages, arn, "us-east-1")
        assert scanner.lambda_handler(record_event, context("refresh_shard_scanner")) == {
            "batchItemFailures": []
        }
        sqs_client(stack).delete_message(QueueUrl=shard_queue, ReceiptHandle=messages[0]["ReceiptHandle"])
        visits += 1
    # Then every range was visited, and the credentials are on the refresh queue once
    assert visits == summary["visits"]
    messages = keys_of(drain(stack, queue_url))
    assert messages.count((org_id, "salesforce", created["id"])) == 1


def test_the_scheduler_and_the_scanner_fail_their_cold_start_without_their_queue(tuned):
    # Given no REFRESH_SHARD_QUEUE_URL
    tuned(REFRESH_SHARD_QUEUE_URL="")
    # When the scheduler's instance starts (module import), then it fails there, naming it
    with pytest.raises(SettingsError, match="REFRESH_SHARD_QUEUE_URL"):
        load_function("refresh_scheduler")
    # And the shard scanner's, without REFRESH_QUEUE_URL
    tuned(REFRESH_QUEUE_URL="")
    with pytest.raises(SettingsError, match="REFRESH_QUEUE_URL"):
        load_function("refresh_shard_scanner")


# ---- 4. the worker handler ------------------------------------------------------------------------------


def sqs_event(*bodies: str) -> tuple[dict[str, Any], list[str]]:
    """An SQS event as Lambda delivers it (events/refresh_worker.json), one record per body."""
    sample = json.loads((ROOT / "events" / "refresh_worker.json").read_text())
    template = sample["Records"][0]
    records = []
    for body in bodies:
        record = copy.deepcopy(template)
        record["messageId"] = str(uuid.uuid4())
        record["receiptHandle"] = uuid.uuid4().hex
        record["body"] = body
        records.append(record)
    return {"Records": records}, [record["messageId"] for record in records]


def message(org_id: str, created: dict[str, Any]) -> str:
    return json.dumps({"org_id": org_id, "provider": created["provider"], "id": created["id"]})


def test_the_worker_refreshes_a_due_credential_once_and_drops_what_it_cannot_read(
    api, stack, org_headers, org_id, fake_salesforce
):
    # Given due Salesforce credentials, and a batch with their message and a malformed one
    created = create_due(api, org_headers)
    event, _ids = sqs_event(message(org_id, created), "not json")
    worker = load_function("refresh_worker")
    # When the worker processes the batch
    result = worker.lambda_handler(event, context("refresh_worker"))
    # Then no message is retried: the malformed one is dropped
    assert result == {"batchItemFailures": []}
    # And the credentials carry the new access token, active, with the time of the refresh
    body = api.get(org_headers, created["id"]).json
    assert body["access_token"] == fake.NEW_ACCESS_TOKEN
    assert body["status"] == "active" and body["last_error"] is None
    assert body["last_refreshed_at"] is not None and body["last_refreshed_at"] >= created["updated_at"]
    assert body["metadata"]["refresh_token"] == fake.REFRESH_TOKEN
    assert len(fake_salesforce.received) == 1
    # And the new token expires ahead (Salesforce states no lifetime: 2 h), the expires_at the
    # client keeps in metadata moves with it, and the next refresh is scheduled ahead of that
    expires = parse_z(body["expires_at"])
    assert expires > time.time() + 3600, body["expires_at"]
    assert parse_z(body["metadata"]["expires_at"]) == pytest.approx(expires, abs=1)
    assert int(stored_item(stack, org_id)["refresh_due"]["N"]) > time.time() + 3600
    # When SQS delivers the same batch again
    again = worker.lambda_handler(event, context("refresh_worker"))
    # Then nothing is retried, and the provider is not asked again (the credentials are not due)
    assert again == {"batchItemFailures": []}
    assert len(fake_salesforce.received) == 1
    assert api.get(org_headers, created["id"]).json == body


def test_a_kms_outage_returns_the_message_to_the_queue_and_writes_nothing(
    api, stack, org_headers, org_id, other_org_headers, fake_salesforce
):
    # Given due Salesforce credentials, and (in the same batch) credentials that are not due
    created = create_due(api, org_headers)
    before = api.get(org_headers, created["id"]).json
    item_before = stored_item(stack, org_id)
    other_org = f"org-{uuid.uuid4()}"
    other_headers = {"X-API-Key": mint_key(stack, other_org)}
    not_due = api.create(other_headers, {**due_salesforce_body(), "metadata": {"refresh_token": "r"}}).json
    event, (due_id, _not_due_id) = sqs_event(message(org_id, created), message(other_org, not_due))
    worker = load_function("refresh_worker")
    # When KMS fails while a cold worker processes the batch
    reset_process_state()
    stack.aws.fail("kms", "KMSInternalException", 500)
    result = worker.lambda_handler(event, context("refresh_worker"))
    stack.aws.heal()
    # Then only the due credentials' message goes back to the queue for a retry
    assert result == {"batchItemFailures": [{"itemIdentifier": due_id}]}
    # And nothing was written: the old token, the same version, still due, no lease left behind
    assert api.get(org_headers, created["id"]).json == before
    item_after = stored_item(stack, org_id)
    assert item_after["version"] == item_before["version"]
    assert item_after["refresh_due"] == item_before["refresh_due"]
    assert "lease_owner" not in item_after
    assert fake_salesforce.received == []
    # When SQS delivers it again, with KMS back
    retried = worker.lambda_handler(event, context("refresh_worker"))
    # Then it is refreshed
    assert retried == {"batchItemFailures": []}
    assert api.get(org_headers, created["id"]).json["access_token"] == fake.NEW_ACCESS_TOKEN
    assert len(fake_salesforce.received) == 1


# ---- 5. backoff -----------------------------------------------------------------------------------------


class FakeClock:
    """Epoch seconds that move only when told; starts at the real time, so leases behave."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def refresh_due_of(stack: Any, org_id: str) -> int:
    return int(stored_item(stack, org_id)["refresh_due"]["N"])


def test_a_failing_provider_is_retried_with_capped_exponential_backoff(
    api, stack, org_headers, org_id, fake_salesforce
):
    # Given due Salesforce credentials, and Salesforce answering 503
    fake_salesforce.switch(fake.fixed(Reply(503, {"message": "Service Unavailable"})))
    created = create_due(api, org_headers)
    clock = FakeClock()
    base, cap = 60, 3600
    refresher = TokenRefresher(
        credentials_service(),
        clock=clock,
        settings=scheduler_settings(refresh_backoff_base_seconds=base, refresh_backoff_cap_seconds=cap),
    )
    delays: list[int] = []
    for failures in range(1, 10):
        # When the worker tries each time the credentials are due again
        clock.now = max(clock.now, refresh_due_of(stack, org_id) + 0.5)
        tried_at = math.floor(clock.now)
        outcome, error = refresher.refresh_if_due(org_id, "salesforce", created["id"])
        # Then each try fails, is recorded, and is scheduled after an exponentially longer delay
        assert outcome == "failed" and type(error).__name__ == "ProviderUnavailableError"
        stored = stored_item(stack, org_id)
        assert stored["status"]["S"] == "refresh_failed"
        assert stored["last_error_code"]["S"] == "http_503"
        assert int(stored["refresh_failures"]["N"]) == failures
        delay = int(stored["refresh_due"]["N"]) - tried_at
        step = min(cap, base * 2 ** (failures - 1))
        assert step / 2 <= delay <= step, (failures, delay)
        delays.append(delay)
        # And asking again before that is a no-op that calls nobody
        calls = len(fake_salesforce.received)
        assert refresher.refresh_if_due(org_id, "salesforce", created["id"]) == ("skipped", None)
        assert len(fake_salesforce.received) == calls
    # Then after enough failures the delay stays within [cap / 2, cap]
    assert all(cap / 2 <= delay <= cap for delay in delays[6:])
    assert len(fake_salesforce.received) == 9
    # And the API shows the failure
    body = api.get(org_headers, created["id"]).json
    assert body["status"] == "refresh_failed" and body["last_error"]["code"] == "http_503"
    assert body["access_token"] == OLD_ACCESS_TOKEN
    # When Salesforce recovers and the credentials are due again
    fake_salesforce.switch(fake.salesforce())
    clock.now = refresh_due_of(stack, org_id) + 0.5
    outcome, error = refresher.refresh_if_due(org_id, "salesforce", created["id"])
    # Then they are refreshed, active, and their failures are forgotten
    assert (outcome, error) == ("refreshed", None)
    stored = stored_item(stack, org_id)
    assert stored["status"]["S"] == "active"
    assert int(stored["refresh_failures"]["N"]) == 0
    assert "last_error_code" not in stored
    body = api.get(org_headers, created["id"]).json
    assert body["access_token"] == fake.NEW_ACCESS_TOKEN
    assert body["status"] == "active" and body["last_error"] is None


def test_retry_after_of_a_throttling_provider_is_honoured(api, stack, org_headers, org_id, fake_salesforce):
    # Given due Salesforce credentials, and Salesforce throttling with Retry-After: 1200
    fake_salesforce.switch(
        fake.fixed(Reply(429, {"message": "Too Many Requests"}, headers={"Retry-After": "1200"}))
    )
    created = create_due(api, org_headers)
    clock = FakeClock()
    clock.now = max(clock.now, refresh_due_of(stack, org_id) + 0.5)
    refresher = TokenRefresher(
        credentials_service(),
        clock=clock,
        settings=scheduler_settings(refresh_backoff_base_seconds=60, refresh_backoff_cap_seconds=3600),
    )
    # When the first refresh fails
    outcome, _error = refresher.refresh_if_due(org_id, "salesforce", created["id"])
    # Then the next try waits at least what Salesforce asked, not the 30-60 s of a first backoff
    assert outcome == "failed"
    stored = stored_item(stack, org_id)
    assert int(stored["refresh_failures"]["N"]) == 1
    assert 1200 <= int(stored["refresh_due"]["N"]) - math.floor(clock.now) <= 3600


def test_a_grant_the_provider_refuses_in_the_worker_is_reauth_required_and_announced(
    api, stack, org_headers, org_id, fake_salesforce
):
    # Given due Salesforce credentials whose refresh token the provider no longer accepts
    created = create_due(api, org_headers)
    fake_salesforce.switch(fake.salesforce("dead"))
    stack.aws.reset_calls()
    # When the worker refreshes them
    event, _ids = sqs_event(message(org_id, created))
    result = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    # Then the message is done (retrying cannot help), the credentials need a reconnect, and the
    # re-authorization event was put on the bus
    assert result == {"batchItemFailures": []}
    body = api.get(org_headers, created["id"]).json
    assert (body["status"], body["last_error"]["code"]) == ("reauth_required", "invalid_grant")
    assert stack.aws.calls()[("events", "PutEvents")] == 1
