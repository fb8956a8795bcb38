"""When to try a request again, and how long to wait: pure rules, no I/O.

Retried: 503 and 429 (nothing was done), a 409 that carries Retry-After (a refresh or an
idempotent create still in progress), and connection errors, including an answer lost after the
request was sent. What a call may retry depends on whether repeating it is safe (`Safety`).
"""

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum

import httpx


class Safety(Enum):
    """How much of a failed call may be repeated."""

    # Reads, a create with its Idempotency-Key, an update with if_match, a refresh.
    REPEATABLE = "repeatable"
    # Only what surely did nothing: 503, 429, and a connection never made (delete, connect).
    UNSENT_ONLY = "unsent_only"
    # Never (an update without if_match).
    NEVER = "never"


RETRIED_STATUSES = frozenset({429, 503})
# Errors raised before a byte of the request left: repeating them repeats nothing.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries within `total_seconds`; between them a full-jitter exponential
    backoff from `backoff_seconds` up to `max_backoff_seconds`, or the answer's Retry-After when
    it gives one (a wait past the time left ends the retries). `sleep`, `async_sleep`, `clock`
    and `jitter` are there for tests."""

    attempts: int = 4
    total_seconds: float = 30.0
    backoff_seconds: float = 0.5
    max_backoff_seconds: float = 8.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    async_sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    jitter: Callable[[float], float] = field(default=lambda top: random.uniform(0, top), repr=False)  # noqa: S311

    @classmethod
    def of(cls, retries: "int | RetryPolicy | None") -> "RetryPolicy":
        """A policy from a count of retries (0 or None: one attempt) or a policy."""
        if isinstance(retries, RetryPolicy):
            return retries
        return cls(attempts=1 + max(0, retries or 0))

    def backoff(self, attempt: int) -> float:
        """The jittered wait after failed attempt number `attempt` (1-based)."""
        return self.jitter(min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1)))


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """A Retry-After header in seconds: delta-seconds or an HTTP date; None if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def may_retry_status(safety: Safety, status: int, retry_after: float | None) -> bool:
    """Whether an error answer may be retried by a call of this safety."""
    if safety is Safety.NEVER:
        return False
    if status in RETRIED_STATUSES:
        return True
    return safety is Safety.REPEATABLE and status == 409 and retry_after is not None


def may_retry_error(safety: Safety, error: httpx.TransportError) -> bool:
    """Whether a connection error may be retried: always for a repeatable call; for the others
    only when the request surely never left (a lost answer may hide a completed write)."""
    if safety is Safety.REPEATABLE:
        return True
    return safety is Safety.UNSENT_ONLY and isinstance(error, _NOT_SENT)


def next_wait(policy: RetryPolicy, attempt: int, retry_after: float | None, started: float) -> float | None:
    """How long to wait before attempt `attempt + 1`, or None when the attempts or the time are
    spent (the Retry-After, when given, replaces the backoff)."""
    if attempt >= policy.attempts:
        return None
    wait = retry_after if retry_after is not None else policy.backoff(attempt)
    if policy.clock() - started + wait > policy.total_seconds:
        return None
    return wait
