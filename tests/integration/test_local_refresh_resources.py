"""What provision() creates for token refresh on embedded AWS (index, queues, OAuth clients), SQS and
EventBridge calls going through its counter and fault injection, and the local stack's SQS event
source draining a queue the way Lambda does."""

import json
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from integration_credentials.adapters.providers import REFRESHABLE_PROVIDERS
from local_stack.sources import QueueSource, ScheduledRefresh
from local_stack.template import function_environment, load_template, parameter_defaults

from tests.integration.conftest import Stack


def client(stack: Stack, service: str) -> Any:
    return boto3.client(service, endpoint_url=stack.aws.endpoint)


def test_the_credentials_table_has_the_sparse_refresh_due_index(stack: Stack) -> None:
    table = stack.dynamodb.describe_table(TableName=stack.resources.table_name)["Table"]
    (index,) = table["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "refresh-due"
    assert index["KeySchema"] == [
        {"AttributeName": "refresh_shard", "KeyType": "HASH"},
        {"AttributeName": "refresh_due", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "INCLUDE", "NonKeyAttributes": ["id"]}


def test_the_refresh_queue_redrives_to_its_dead_letter_queue(stack: Stack) -> None:
    sqs = client(stack, "sqs")
    urls = stack.resources.queue_urls
    queue = sqs.get_queue_attributes(QueueUrl=urls["RefreshQueue"], AttributeNames=["All"])["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=urls["RefreshDeadLetterQueue"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert queue["VisibilityTimeout"] == "1080"
    assert queue["SqsManagedSseEnabled"] == "true"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": 5,
    }
    assert dead["MessageRetentionPeriod"] == "1209600"
    assert stack.resources.attributes[("RefreshQueue", "Arn")] == queue["QueueArn"]
    # The shard scanner finds the queue through its own environment variable.
    env = function_environment(
        stack.resources.refs, stack.resources.attributes, "RefreshShardScannerFunction"
    )
    assert env["REFRESH_QUEUE_URL"] == urls["RefreshQueue"]


def test_the_shard_queue_is_fifo_and_redrives_to_its_fifo_dead_letter_queue(stack: Stack) -> None:
    sqs = client(stack, "sqs")
    urls = stack.resources.queue_urls
    queue = sqs.get_queue_attributes(QueueUrl=urls["RefreshShardQueue"], AttributeNames=["All"])["Attributes"]
    dead = sqs.get_queue_attributes(QueueUrl=urls["RefreshShardDeadLetterQueue"], AttributeNames=["All"])[
        "Attributes"
    ]
    assert urls["RefreshShardQueue"].endswith(".fifo") and urls["RefreshShardDeadLetterQueue"].endswith(
        ".fifo"
    )
    assert (queue["FifoQueue"], dead["FifoQueue"]) == ("true", "true")
    assert queue["VisibilityTimeout"] == "360"
    assert json.loads(queue["RedrivePolicy"]) == {
        "deadLetterTargetArn": dead["QueueArn"],
        "maxReceiveCount": 3,
    }
    # The scheduler finds it through its own environment variable.
    env = function_environment(stack.resources.refs, stack.resources.attributes, "RefreshSchedulerFunction")
    assert env["REFRESH_SHARD_QUEUE_URL"] == urls["RefreshShardQueue"]


def test_one_oauth_client_secure_string_per_refreshable_provider(stack: Stack) -> None:
    ssm = client(stack, "ssm")
    prefix = parameter_defaults()["OAuthClientParameterPrefix"]
    found = ssm.get_parameters_by_path(Path=prefix, WithDecryption=True)["Parameters"]
    assert {parameter["Name"].removeprefix(prefix) for parameter in found} == set(REFRESHABLE_PROVIDERS)
    for parameter in found:
        assert parameter["Type"] == "SecureString"
        value = json.loads(parameter["Value"])
        assert set(value) == {"client_id", "client_secret"} and all(value.values())
        provider = parameter["Name"].removeprefix(prefix)
        assert stack.resources.oauth_client_ids[provider] == value["client_id"]
    # ...and its client id alone, a String, for the connect function
    ids = ssm.get_parameters_by_path(Path=prefix + "client-id/")["Parameters"]
    assert {
        parameter["Name"].removeprefix(prefix + "client-id/"): parameter["Value"] for parameter in ids
    } == (stack.resources.oauth_client_ids)
    assert {parameter["Type"] for parameter in ids} == {"String"}
    assert stack.resources.event_bus_name == load_template()["Parameters"]["EventBusName"]["Default"]


def test_sqs_and_eventbridge_calls_are_counted_and_can_be_made_to_fail(stack: Stack) -> None:
    sqs, events = client(stack, "sqs"), client(stack, "events")
    url = stack.resources.queue_urls["RefreshDeadLetterQueue"]
    stack.aws.reset_calls()
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    events.put_events(Entries=[{"Source": "test", "DetailType": "probe", "Detail": "{}"}])
    calls = stack.aws.calls()
    assert calls[("sqs", "GetQueueAttributes")] == 1
    assert calls[("events", "PutEvents")] == 1

    stack.aws.fail("sqs", "AWS.SimpleQueueService.RequestThrottled", 400, operations=["SendMessageBatch"])
    with pytest.raises(ClientError) as throttled:
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "{}"}])
    assert throttled.value.response["Error"]["Code"] == "AWS.SimpleQueueService.RequestThrottled"
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])  # other operations still work

    stack.aws.fail("events", "ThrottlingException", 400)
    with pytest.raises(ClientError) as denied:
        events.put_events(Entries=[{"Source": "test", "DetailType": "probe", "Detail": "{}"}])
    assert denied.value.response["Error"]["Code"] == "ThrottlingException"


class FakePool:
    """Stands in for a FunctionPool: records the events, answers with `reply(event)`."""

    def __init__(self, name: str, reply: Any) -> None:
        self.name = name
        self.reply = reply
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        self.events.append(event)
        return self.reply(event)


@pytest.fixture
def queue(stack: Stack) -> Iterator[tuple[str, str]]:
    """A fresh queue (URL, ARN), so the template's queues stay untouched."""
    sqs = client(stack, "sqs")
    url = sqs.create_queue(QueueName=f"drain-{uuid.uuid4()}", Attributes={"VisibilityTimeout": "300"})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    yield url, arn
    sqs.delete_queue(QueueUrl=url)


def depth(stack: Stack, url: str) -> tuple[int, int]:
    """(visible, in flight) messages."""
    attributes = client(stack, "sqs").get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def run_tick(stack: Stack, url: str, arn: str, worker: FakePool) -> FakePool:
    scheduler = FakePool("RefreshSchedulerFunction", lambda event: ("ok", {"enqueued": 0}))
    refresh = ScheduledRefresh(
        schedules=[(scheduler, "arn:aws:events:us-east-1:123456789012:rule/local")],
        sources=[
            QueueSource(
                worker, url, arn, batch_size=10, report_batch_item_failures=True, sqs=client(stack, "sqs")
            )
        ],
        interval=60,
        region="us-east-1",
    )
    refresh.tick()
    assert len(scheduler.events) == 1 and scheduler.events[0]["detail-type"] == "Scheduled Event"
    return scheduler


def send(stack: Stack, url: str, count: int) -> None:
    sqs = client(stack, "sqs")
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(i),
                    "MessageBody": json.dumps({"org_id": "o", "provider": "salesforce", "id": str(i)}),
                }
                for i in range(start, min(start + 10, count))
            ],
        )


def test_a_tick_drains_the_queue_in_batches_and_keeps_the_reported_failures(
    stack: Stack, queue: tuple[str, str]
) -> None:
    # Given 23 messages, one of which the worker reports as failed
    url, arn = queue
    send(stack, url, 23)

    def reply(event: dict[str, Any]) -> tuple[str, Any]:
        failed = [r["messageId"] for r in event["Records"] if json.loads(r["body"])["id"] == "7"]
        return "ok", {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failed]}

    worker = FakePool("RefreshWorkerFunction", reply)

    # When the schedule ticks
    run_tick(stack, url, arn, worker)

    # Then the worker got every message once, in batches of at most 10 shaped like Lambda's
    records = [record for event in worker.events for record in event["Records"]]
    assert sorted(json.loads(r["body"])["id"] for r in records) == sorted(str(i) for i in range(23))
    assert all(len(event["Records"]) <= 10 for event in worker.events)
    assert {(r["eventSource"], r["eventSourceARN"], r["awsRegion"]) for r in records} == {
        ("aws:sqs", arn, "us-east-1")
    }
    assert all(r["attributes"]["ApproximateReceiveCount"] == "1" for r in records)
    # And only the reported message is left, in flight until its visibility timeout
    assert depth(stack, url) == (0, 1)


def test_a_failed_invocation_deletes_nothing(stack: Stack, queue: tuple[str, str]) -> None:
    # Given 3 messages and a worker that crashes
    url, arn = queue
    send(stack, url, 3)
    worker = FakePool("RefreshWorkerFunction", lambda event: ("error", "RuntimeError"))

    # When the schedule ticks
    run_tick(stack, url, arn, worker)

    # Then the batch was tried once and every message waits for its retry
    assert [len(event["Records"]) for event in worker.events] == [3]
    assert depth(stack, url) == (0, 3)


def test_a_tick_drains_a_queue_that_another_queues_function_fills(stack: Stack) -> None:
    # Given the worker's queue listed first, and a scanner's queue whose function fills it (the
    # shard scanner fills the refresh queue), holding 3 messages
    sqs = client(stack, "sqs")
    made = []
    for name in ("refresh", "shards"):
        url = sqs.create_queue(QueueName=f"{name}-{uuid.uuid4()}")["QueueUrl"]
        made.append(
            (
                url,
                sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"],
            )
        )
    (refresh_url, refresh_arn), (shards_url, shards_arn) = made
    send(stack, shards_url, 3)

    def scan(event: dict[str, Any]) -> tuple[str, Any]:
        for record in event["Records"]:
            sqs.send_message(QueueUrl=refresh_url, MessageBody=record["body"])
        return "ok", {"batchItemFailures": []}

    scanner = FakePool("RefreshShardScannerFunction", scan)
    worker = FakePool("RefreshWorkerFunction", lambda event: ("ok", {"batchItemFailures": []}))
    scheduler = FakePool("RefreshSchedulerFunction", lambda event: ("ok", {"visits": 0}))
    refresh = ScheduledRefresh(
        schedules=[(scheduler, "arn:aws:events:us-east-1:123456789012:rule/local")],
        sources=[
            QueueSource(worker, refresh_url, refresh_arn, 10, True, sqs),
            QueueSource(scanner, shards_url, shards_arn, 1, True, sqs),
        ],
        interval=60,
        region="us-east-1",
    )
    try:
        # When the schedule ticks once
        refresh.tick()
        # Then the scanner took each message in an invocation of its own, and the worker got
        # everything it enqueued in the same tick: both queues are empty
        assert [len(event["Records"]) for event in scanner.events] == [1, 1, 1]
        assert sum(len(event["Records"]) for event in worker.events) == 3
        assert depth(stack, shards_url) == (0, 0) and depth(stack, refresh_url) == (0, 0)
    finally:
        for url, _arn in made:
            sqs.delete_queue(QueueUrl=url)
