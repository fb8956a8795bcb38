"""The refresh scheduler: find the credentials due without scanning, hand them to the workers.

Due credentials carry `refresh_shard` + `refresh_due` and so appear in the sparse `refresh-due`
index; the scheduler queries each shard for `refresh_due <= now` (oldest first) and reads no item
that is not due. It enqueues at most REFRESH_BATCH_LIMIT per run and at most the provider's
limit per provider (the rest stay due for the next run), ten messages per SendMessageBatch.
A credential enqueued twice is refreshed once: the worker's lease requires it to still be due.
"""

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import botocore.exceptions

from ..adapters.aws import dependency_error_of
from ..adapters.storage.refresh_index import RefreshIndex
from ..core.constants import DEFAULT_PROVIDER_LIMIT, REFRESH_SHARDS
from ..core.errors import DependencyUnavailableError
from ..core.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

_SQS_BATCH = 10
_PAGE_LIMIT = 1000


@dataclass
class SchedulerRun:
    """What one run did: messages sent per provider, index items read, due ones left for later."""

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


def provider_limit(provider: str, settings: Settings) -> int:
    """Most credentials of one provider a run enqueues."""
    return settings.refresh_provider_limits.get(provider, DEFAULT_PROVIDER_LIMIT)


def enqueue_due(
    index: RefreshIndex,
    sqs: "SQSClient",
    queue_url: str,
    *,
    now: float,
    settings: Settings,
) -> SchedulerRun:
    """Enqueue every credential due at `now`, within the run's limits."""
    run = SchedulerRun()
    due_by = math.floor(now)
    budget = settings.refresh_batch_limit
    batch: list[dict[str, str]] = []
    # Start at a different shard each minute, so a run cut short by its budget starves none.
    first = int(now // 60) % REFRESH_SHARDS
    for offset in range(REFRESH_SHARDS):
        shard = str((first + offset) % REFRESH_SHARDS)
        after: Any = None
        while budget > 0:
            items, after, read = index.due(shard, due_by, limit=min(budget, _PAGE_LIMIT), after=after)
            run.queries += 1
            run.items_read += read
            for org_id, provider, credentials_id in items:
                if run.enqueued[provider] >= provider_limit(provider, settings) or budget <= 0:
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


def _send(sqs: "SQSClient", queue_url: str, messages: list[dict[str, str]]) -> None:
    entries = [
        {"Id": str(index), "MessageBody": json.dumps(message, separators=(",", ":"))}
        for index, message in enumerate(messages)
    ]
    for _attempt in range(3):
        try:
            response = sqs.send_message_batch(QueueUrl=queue_url, Entries=entries)  # type: ignore[arg-type]
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise dependency_error_of("SQS", error) from error
        failed = {entry["Id"] for entry in response.get("Failed", [])}
        if not failed:
            return
        entries = [entry for entry in entries if entry["Id"] in failed]
    # What is not enqueued stays due: the next run picks it up.
    raise DependencyUnavailableError("SQS", "SendMessageBatchPartialFailure")
