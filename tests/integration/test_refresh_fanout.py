"""The fanned-out scheduler on embedded AWS: a run's messages on the stack's FIFO shard queue, each
processed by the shard scanner's handler as Lambda's SQS event source would (one message per
invocation, partial batch failures): every shard visited once per run and none twice, a range
that fails retried alone, and the run's limits holding across all its shards."""

import json
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from integration_credentials.adapters.storage.keys import refresh_shard
from integration_credentials.adapters.storage.refresh_index import RefreshIndex
from integration_credentials.core.constants import REFRESH_SHARDS
from integration_credentials.core.settings import get_settings
from integration_credentials.logic.scheduler import dispatch_run, enqueue_due, run_id_of
from local_stack.events import sqs_event
from local_stack.sources import processed_message_ids

from tests.integration.conftest import load_function
from tests.integration.test_refresh_scheduler import (
    Row,
    context,
    delete_rows,
    drain,
    keys_of,
    put_rows,
    sqs_client,
)

# Due times of this module's rows: epoch seconds long past and below the other scheduler tests'
# windows, so at WINDOW_NOW only rows of this module are due.
WINDOW = 200_000
WINDOW_NOW = WINDOW + 10_000
PER_SHARD = 4  # due rows in each of the 64 shards: 256, every range holds some of each provider


def ids_spread_over_shards(per_shard: int) -> list[str]:
    """Credential ids, `per_shard` in each shard of the index (so every range holds rows)."""
    buckets: dict[str, list[str]] = {str(shard): [] for shard in range(REFRESH_SHARDS)}
    while any(len(ids) < per_shard for ids in buckets.values()):
        candidate = str(uuid.uuid4())
        bucket = buckets[refresh_shard(candidate)]
        if len(bucket) < per_shard:
            bucket.append(candidate)
    return [credentials_id for ids in buckets.values() for credentials_id in ids]


@pytest.fixture
def spread_rows(stack: Any) -> Iterator[Any]:
    """Write due rows spread evenly over the shards, one provider each in turn; deleted after."""
    written: list[Row] = []

    def write(providers: tuple[str, ...], window: int = WINDOW) -> list[Row]:
        prefix = f"org-fan-{uuid.uuid4().hex[:8]}"
        rows = [
            Row(f"{prefix}-{index:05d}", providers[index % len(providers)], credentials_id, window + index)
            for index, credentials_id in enumerate(ids_spread_over_shards(PER_SHARD))
        ]
        put_rows(stack, rows)
        written.extend(rows)
        return rows

    yield write
    delete_rows(stack, written)


@pytest.fixture
def queues(stack: Any, tuned: Any) -> tuple[str, str]:
    """The stack's shard queue and refresh queue (what the template grants), emptied first."""
    shard_queue, refresh_queue = (
        stack.resources.refs[name] for name in ("RefreshShardQueue", "RefreshQueue")
    )
    tuned(REFRESH_QUEUE_URL=refresh_queue, REFRESH_SHARD_QUEUE_URL=shard_queue)
    for url in (shard_queue, refresh_queue):
        drain(stack, url)
    return shard_queue, refresh_queue


def receive_all(stack: Any, queue_url: str) -> list[dict[str, Any]]:
    """Every visible message of a queue (left on it: received, so invisible for a while)."""
    sqs = sqs_client(stack)
    messages: list[dict[str, Any]] = []
    while True:
        found = sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, AttributeNames=["All"], VisibilityTimeout=30
        ).get("Messages", [])
        if not found:
            return messages
        messages.extend(found)


def scan(stack: Any, queue_url: str, message: dict[str, Any]) -> tuple[str, Any]:
    """One shard-queue message through the scanner's handler, as Lambda's event source sends it
    (one record); the message is deleted when Lambda would delete it. The handler's status."""
    arn = stack.resources.attributes[("RefreshShardQueue", "Arn")]
    event = sqs_event([message], arn, "us-east-1")
    try:
        result = load_function("refresh_shard_scanner").lambda_handler(
            event, context("refresh_shard_scanner")
        )
        status = "ok"
    except Exception as error:  # the invocation failed: Lambda deletes nothing
        status, result = "error", type(error).__name__
    if processed_message_ids([message["MessageId"]], status, result, report_batch_item_failures=True):
        sqs_client(stack).delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return status, result


def settings(**update: Any) -> Any:
    return get_settings().replace(**update)


def ours(bodies: list[dict[str, Any]], rows: list[Row]) -> list[tuple[str, str, str]]:
    mine = {row.key for row in rows}
    return [key for key in keys_of(bodies) if key in mine]


def test_every_shard_is_visited_once_per_run_and_none_twice(stack, queues, spread_rows):
    shard_queue, refresh_queue = queues
    # Given 256 due credentials, four in each of the 64 shards
    rows = spread_rows(("salesforce", "pipedrive", "zoho", "dynamics"))
    run = run_id_of(str(uuid.uuid4()))
    # When a run is dispatched, and its schedule event delivered again (the same run)
    for _delivery in range(2):
        dispatched = dispatch_run(
            sqs_client(stack),
            shard_queue,
            run=run,
            now=WINDOW_NOW,
            settings=settings(refresh_shard_scanners=16),
        )
        assert dispatched.summary() == {"run": run, "visits": 16, "shards": REFRESH_SHARDS}
    # Then the shard queue holds the run's 16 ranges once, which cover every shard exactly once
    messages = receive_all(stack, shard_queue)
    visits = [json.loads(message["Body"]) for message in messages]
    assert len(visits) == 16 and {visit["run"] for visit in visits} == {run}
    shards = Counter(shard for visit in visits for shard in visit["shards"])
    assert shards == Counter({str(shard): 1 for shard in range(REFRESH_SHARDS)})
    # When each range's message is a scanner invocation of its own
    stack.aws.reset_calls()
    for message in messages:
        assert scan(stack, shard_queue, message) == ("ok", {"batchItemFailures": []})
    # Then the index was queried once per shard, and every due credential enqueued exactly once
    assert stack.aws.calls()[("dynamodb", "Query")] == REFRESH_SHARDS
    enqueued = ours(drain(stack, refresh_queue), rows)
    assert len(enqueued) == len(set(enqueued)) == len(rows)
    assert receive_all(stack, shard_queue) == []


def test_a_range_that_fails_is_retried_alone(stack, queues, spread_rows):
    shard_queue, refresh_queue = queues
    # Given 256 due credentials over the 64 shards, and a run of 16 ranges
    rows = spread_rows(("salesforce", "hubspot"))
    dispatch_run(
        sqs_client(stack), shard_queue, run=run_id_of(str(uuid.uuid4())), now=WINDOW_NOW, settings=settings()
    )
    messages = receive_all(stack, shard_queue)
    assert len(messages) == 16
    failing = messages[5]
    failing_shards = set(json.loads(failing["Body"])["shards"])
    # When DynamoDB fails while one range is scanned
    outcomes = []
    for message in messages:
        if message is failing:
            stack.aws.fail("dynamodb", "InternalServerError", 500, ["Query"])
        outcomes.append(scan(stack, shard_queue, message))
        stack.aws.heal()
    # Then that range's message alone comes back (a batch item failure); the others are done
    assert [status for status, _ in outcomes] == ["ok"] * 16
    failed = [result for _, result in outcomes if result["batchItemFailures"]]
    assert failed == [{"batchItemFailures": [{"itemIdentifier": failing["MessageId"]}]}]
    first = ours(drain(stack, refresh_queue), rows)
    assert {refresh_shard(key[2]) for key in first} == {
        str(s) for s in range(REFRESH_SHARDS)
    } - failing_shards
    # When SQS delivers it again (its visibility timeout over)
    sqs_client(stack).change_message_visibility(
        QueueUrl=shard_queue, ReceiptHandle=failing["ReceiptHandle"], VisibilityTimeout=0
    )
    (again,) = receive_all(stack, shard_queue)
    assert again["MessageId"] == failing["MessageId"]
    stack.aws.reset_calls()
    assert scan(stack, shard_queue, again) == ("ok", {"batchItemFailures": []})
    # Then only its shards are queried again, and only their credentials enqueued
    assert stack.aws.calls()[("dynamodb", "Query")] == len(failing_shards)
    second = ours(drain(stack, refresh_queue), rows)
    assert {refresh_shard(key[2]) for key in second} == failing_shards
    # And every due credential was enqueued exactly once in all
    assert sorted(first + second) == sorted(row.key for row in rows)
    assert receive_all(stack, shard_queue) == []


def test_the_runs_limits_hold_across_all_its_shards(stack, queues, spread_rows):
    shard_queue, refresh_queue = queues
    # Given 256 HubSpot credentials due and 256 of other providers, over every shard
    hubspot = spread_rows(("hubspot",))
    others = spread_rows(("salesforce", "pipedrive", "zoho", "dynamics"), window=WINDOW + 1_000)
    # When a run of 16 ranges may enqueue 8 HubSpot credentials, 100 in all
    limited = settings(refresh_provider_limits={"hubspot": 8}, refresh_batch_limit=100)
    dispatch_run(
        sqs_client(stack), shard_queue, run=run_id_of(str(uuid.uuid4())), now=WINDOW_NOW, settings=limited
    )
    messages = receive_all(stack, shard_queue)
    assert len(messages) == 16
    for message in messages:
        assert scan(stack, shard_queue, message)[0] == "ok"
    # Then the ranges together enqueued exactly the run's 8 HubSpot and 100 in all, each once
    enqueued = ours(drain(stack, refresh_queue), hubspot + others)
    by_provider = Counter(key[1] for key in enqueued)
    assert by_provider["hubspot"] == 8
    assert len(enqueued) == len(set(enqueued)) == 100


def test_rows_scheduled_under_16_shards_are_still_found(stack, queue):
    # Given due rows written before the index had 64 shards, one under each label of the 16 then
    # (their hash modulo 16), each with another shard of 64 now
    old_rows: list[Row] = []
    items = []
    for label in range(16):
        credentials_id = next(
            candidate
            for candidate in (str(uuid.uuid4()) for _ in range(10_000))
            if int(refresh_shard(candidate)) >= 16 and int(refresh_shard(candidate)) % 16 == label
        )
        row = Row(f"org-fan-old-{uuid.uuid4().hex[:8]}", "zoho", credentials_id, WINDOW - 50_000 + label)
        old_rows.append(row)
        items.append(row.item() | {"refresh_shard": {"S": str(label)}})
    put_items(stack, items)
    try:
        # When a run visits every shard
        index = RefreshIndex(stack.resources.table_name, stack.dynamodb)
        enqueue_due(index, sqs_client(stack), queue, now=WINDOW - 50_000 + 100, settings=settings())
        # Then every one of them is enqueued
        assert {row.key for row in old_rows} <= set(keys_of(drain(stack, queue)))
    finally:
        delete_rows(stack, old_rows)


def put_items(stack: Any, items: list[dict[str, Any]]) -> None:
    for item in items:
        stack.dynamodb.put_item(TableName=stack.resources.table_name, Item=item)


@pytest.fixture
def queue(stack: Any) -> Iterator[str]:
    sqs = boto3.client("sqs", endpoint_url=stack.aws.endpoint)
    url: str = sqs.create_queue(QueueName=f"refresh-fanout-test-{uuid.uuid4().hex[:16]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)
