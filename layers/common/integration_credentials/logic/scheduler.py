"""The refresh scheduler, fanned out: a run splits the `refresh-due` index's shards into ranges and
sends one message per range to the shard queue; each message is a shard scanner's invocation of
its own, which finds the credentials due in its shards and hands them to the workers.

Due credentials carry `refresh_shard` + `refresh_due` and so appear in the sparse `refresh-due`
index; a scanner queries each of its shards for `refresh_due <= due_by` (oldest first) and reads
no item that is not due. A run enqueues at most REFRESH_BATCH_LIMIT and at most the provider's
limit per provider: the run gives each range a share of both (they add up to the run's limits,
so they hold across all the shards of the run), and the rest stay due for the next run. Ten
messages go per SendMessageBatch. A credential enqueued twice is refreshed once: the worker's
lease requires it to still be due.

The shard queue is FIFO: a range's message carries the run's id as its deduplication id (a run
that is sent twice, by a retried invocation, visits no shard twice) and its range as its message
group (one visit of a shard at a time, in the order of the runs).
"""

import hashlib
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.exceptions
from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..adapters.aws import dependency_error_of
from ..adapters.observability import logger, metrics
from ..adapters.storage.refresh_index import RefreshIndex
from ..core.constants import DEFAULT_PROVIDER_LIMIT, REFRESH_SHARDS
from ..core.errors import DependencyUnavailableError
from ..core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_SQS_BATCH = 10
_PAGE_LIMIT = 1000
# A scanner reads at most this many index items per credential it may enqueue: items of a
# provider over its share are read and left due, and must not make a visit's work unbounded.
_READS_PER_SLOT = 4


class ShardVisit(BaseModel):
    """One shard scanner's work in a run (the shard queue's message): its shards, the run's due
    time, and its share of the run's limits."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str = Field(min_length=1, max_length=64)
    due_by: int
    shards: tuple[str, ...] = Field(min_length=1, max_length=REFRESH_SHARDS)
    limit: int = Field(ge=0)
    provider_limits: dict[str, int] = Field(default_factory=dict)
    default_provider_limit: int = Field(ge=0)

    def provider_limit(self, provider: str) -> int:
        """Most credentials of `provider` this visit enqueues."""
        return self.provider_limits.get(provider, self.default_provider_limit)


def share(total: int, parts: int, index: int, rotation: int) -> int:
    """Part `index` of `total` split over `parts` as evenly as can be (the parts add up to
    `total`); which parts get one more turns with `rotation`, so no range always gets less."""
    return total // parts + (1 if (index - rotation) % parts < total % parts else 0)


def shard_ranges(scanners: int) -> list[tuple[str, ...]]:
    """The index's shards split into `scanners` consecutive ranges (sizes differ by at most one)."""
    count = max(1, min(scanners, REFRESH_SHARDS))
    bounds = [REFRESH_SHARDS * part // count for part in range(count + 1)]
    return [tuple(str(shard) for shard in range(bounds[i], bounds[i + 1])) for i in range(count)]


def plan_run(run: str, now: float, settings: Settings) -> list[ShardVisit]:
    """A run's visits: every shard in exactly one, with shares of the run's limits."""
    ranges = shard_ranges(settings.refresh_shard_scanners)
    rotation = int(now // 60)
    due_by = math.floor(now)
    return [
        ShardVisit(
            run=run,
            due_by=due_by,
            shards=shards,
            limit=share(settings.refresh_batch_limit, len(ranges), index, rotation),
            provider_limits={
                provider: share(limit, len(ranges), index, rotation)
                for provider, limit in settings.refresh_provider_limits.items()
            },
            default_provider_limit=share(DEFAULT_PROVIDER_LIMIT, len(ranges), index, rotation),
        )
        for index, shards in enumerate(ranges)
    ]


def run_id_of(event_id: str) -> str:
    """A run's id from its schedule event's id: a redelivered event is the same run."""
    return hashlib.sha256(event_id.encode()).hexdigest()[:32]


@dataclass
class DispatchedRun:
    """What a run's dispatch did: its id and the visits it sent."""

    run: str
    visits: int
    shards: int

    def summary(self) -> dict[str, Any]:
        """Counts for the handler's response and logs."""
        return {"run": self.run, "visits": self.visits, "shards": self.shards}


def dispatch_run(
    sqs: "SQSClient", shard_queue_url: str, *, run: str, now: float, settings: Settings
) -> DispatchedRun:
    """Send one message per range of shards to the (FIFO) shard queue."""
    visits = plan_run(run, now, settings)
    entries = [
        {
            "Id": str(index),
            "MessageBody": visit.model_dump_json(),
            "MessageGroupId": f"shards-{visit.shards[0]}",
            "MessageDeduplicationId": f"{run}:{visit.shards[0]}",
        }
        for index, visit in enumerate(visits)
    ]
    for start in range(0, len(entries), _SQS_BATCH):
        _send_entries(sqs, shard_queue_url, entries[start : start + _SQS_BATCH])
    return DispatchedRun(run=run, visits=len(visits), shards=sum(len(visit.shards) for visit in visits))


@dataclass
class SchedulerRun:
    """What one visit (or a run's visits together) did: messages sent per provider, index items
    read, due ones left for later."""

    enqueued: Counter[str] = field(default_factory=Counter)
    items_read: int = 0
    queries: int = 0
    deferred: int = 0

    def summary(self) -> dict[str, Any]:
        """Counts for the handler's response and logs (ids and providers only)."""
        return {
            "enqueued": sum(self.enqueued.values()),
            "by_provider": dict(self.enqueued),
            "items_read": self.items_read,
            "queries": self.queries,
            "deferred": self.deferred,
        }

    def add(self, other: "SchedulerRun") -> None:
        """Count another visit's work in this one."""
        self.enqueued.update(other.enqueued)
        self.items_read += other.items_read
        self.queries += other.queries
        self.deferred += other.deferred


def scan_shards(index: RefreshIndex, sqs: "SQSClient", queue_url: str, visit: ShardVisit) -> SchedulerRun:
    """Enqueue the credentials due in the visit's shards, within the visit's limits."""
    run = SchedulerRun()
    budget = visit.limit
    reads_left = max(_PAGE_LIMIT, budget * _READS_PER_SLOT)
    batch: list[dict[str, str]] = []
    for shard in _rotated(visit.shards, visit.due_by):
        after: Any = None
        while budget > 0 and reads_left > 0:
            page = min(budget, _PAGE_LIMIT, reads_left)
            items, after, read = index.due(shard, visit.due_by, limit=page, after=after)
            run.queries += 1
            run.items_read += read
            reads_left -= read
            for org_id, provider, credentials_id in items:
                if run.enqueued[provider] >= visit.provider_limit(provider) or budget <= 0:
                    run.deferred += 1
                    continue
                run.enqueued[provider] += 1
                budget -= 1
                batch.append({"org_id": org_id, "provider": provider, "id": credentials_id})
                if len(batch) == _SQS_BATCH:
                    _send(sqs, queue_url, batch)
                    batch = []
            if not after:
                break
    if batch:
        _send(sqs, queue_url, batch)
    return run


def scan_queued_visit(
    index: RefreshIndex, sqs: "SQSClient", queue_url: str, body: str, message_id: str
) -> dict[str, Any]:
    """A shard queue message's visit: its counts (logged with the run and the shards, never a
    credential). Raises (so the message comes back) when DynamoDB or SQS fail."""
    try:
        visit = ShardVisit.model_validate_json(body)
    except ValidationError:
        # A message we did not write: retrying cannot help, so it is dropped (and counted).
        logger.error("shard visit rejected", extra={"message_id": message_id})
        metrics.add_metric(name="RefreshShardVisit.invalid", unit=MetricUnit.Count, value=1)
        return {"outcome": "invalid"}
    summary = scan_shards(index, sqs, queue_url, visit).summary()
    logger.info("shard visit", extra={"run": visit.run, "shards": list(visit.shards), **summary})
    return summary


def _rotated(shards: tuple[str, ...], due_by: int) -> Iterator[str]:
    # Start at a different shard each minute, so a visit cut short by its budget starves none.
    first = (due_by // 60) % len(shards)
    for offset in range(len(shards)):
        yield shards[(first + offset) % len(shards)]


def enqueue_due(
    index: RefreshIndex,
    sqs: "SQSClient",
    queue_url: str,
    *,
    now: float,
    settings: Settings,
    run: str = "local",
) -> SchedulerRun:
    """A whole run in this process: every visit of the run, one after the other (what the shard
    scanners do side by side), their counts added up."""
    total = SchedulerRun()
    for visit in plan_run(run, now, settings):
        total.add(scan_shards(index, sqs, queue_url, visit))
    return total


def _send(sqs: "SQSClient", queue_url: str, messages: list[dict[str, str]]) -> None:
    _send_entries(
        sqs,
        queue_url,
        [
            {"Id": str(index), "MessageBody": json.dumps(message, separators=(",", ":"))}
            for index, message in enumerate(messages)
        ],
    )


def _send_entries(sqs: "SQSClient", queue_url: str, entries: list[dict[str, str]]) -> None:
    for _attempt in range(3):
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise dependency_error_of("SQS", error) from error
        failed = {entry["Id"] for entry in response.get("Failed", [])}
        if not failed:
            return
        entries = [entry for entry in entries if entry["Id"] in failed]
    # What is not enqueued stays due: the next run (or this visit's retry) picks it up.
    raise DependencyUnavailableError("SQS", "SendMessageBatchPartialFailure")
