"""Lambda's event sources, locally: a schedule rule's period, and the SQS event source mapping
that hands a queue's messages to the function it triggers and deletes what the function processed."""

import re
import threading
from dataclasses import dataclass
from typing import Any

from .events import scheduled_event, sqs_event
from .lambda_runtime import FunctionPool

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_seconds(expression: str, default: float = 60.0) -> float:
    """The period of a `rate(...)` expression; `default` for a cron expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        return default
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]


def processed_message_ids(
    message_ids: list[str], status: str, result: Any, report_batch_item_failures: bool
) -> list[str]:
    """The messages of a batch that Lambda deletes after the invocation, by its documented rules:
    none when the function failed; without ReportBatchItemFailures, all; with it, all but the
    reported ones, and none when the response is malformed (not an object, or an itemIdentifier
    that is missing, empty or not in the batch)."""
    if status != "ok":
        return []
    if not report_batch_item_failures or result is None:
        return list(message_ids)
    if not isinstance(result, dict):
        return []
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return []
    failed: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or item not in message_ids:
            return []
        failed.add(item)
    return [message_id for message_id in message_ids if message_id not in failed]


@dataclass(frozen=True)
class QueueSource:
    """A queue and the function it triggers, as Lambda's SQS event source mapping polls them."""

    pool: FunctionPool
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    # Polls as Lambda's event source mapping does: with the function's own role (its key id here).
    sqs: Any


class ScheduledRefresh:
    """Background thread: invokes the scheduled functions every `interval` seconds, then drains the
    queues into the functions they trigger. Logs counts and error types, never a message body."""

    def __init__(
        self,
        schedules: list[tuple[FunctionPool, str]],
        sources: list[QueueSource],
        interval: float,
        region: str,
    ) -> None:
        self._schedules = schedules
        self._sources = sources
        self._interval = interval
        self._region = region
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-refresh", daemon=True)

    def start(self) -> None:
        """Tick every `interval` seconds, the first one `interval` seconds from now (as a rate rule)."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking; an invocation in flight is left to the pools' stop."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.tick()
            except Exception as error:  # an instance that cannot start: try again next tick
                self._say(f"tick failed ({type(error).__name__})")

    def tick(self) -> None:
        """One schedule: every scheduled function once, then every queue until all are empty (a
        function may fill another's queue: the scheduler the shard queue, the scanners the
        refresh queue), as Lambda's pollers would."""
        for pool, rule_arn in self._schedules:
            status, result = pool.invoke(scheduled_event(rule_arn, self._region))
            if status != "ok":
                self._say(f"{pool.name} failed ({result})")
        moved = True
        while moved and not self._stopping.is_set():
            moved = False
            for source in self._sources:
                try:
                    moved = self._drain(source) > 0 or moved
                except Exception as error:  # embedded AWS stopping, or an injected fault: next tick
                    self._say(f"polling {source.pool.name}'s queue failed ({type(error).__name__})")

    def _say(self, line: str) -> None:
        # Only counts, names and error types get here: never a message body or a function's result.
        if not self._stopping.is_set():
            print(f"local refresh: {line}", flush=True)

    def _drain(self, source: QueueSource) -> int:
        """Hand the queue's messages to its function until none is visible; how many were deleted
        (messages left for a retry stay invisible until their visibility timeout)."""
        deleted = 0
        while not self._stopping.is_set():
            messages = source.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return deleted
            status, result = source.pool.invoke(sqs_event(messages, source.queue_arn, self._region))
            ids = [message["MessageId"] for message in messages]
            done = set(processed_message_ids(ids, status, result, source.report_batch_item_failures))
            deleted += len(done)
            if done:
                source.sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                        if message["MessageId"] in done
                    ],
                )
            outcome = "ok" if status == "ok" else f"failed: {result}"
            self._say(
                f"{source.pool.name} took {len(messages)} message(s), "
                f"{len(messages) - len(done)} left for a retry ({outcome})"
            )
        return deleted
