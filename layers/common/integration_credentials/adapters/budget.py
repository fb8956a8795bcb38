"""The time budget of one invocation: every AWS call it makes (DynamoDB, KMS through the
Encryption SDK, SSM, EventBridge, SQS), retries included, ends before the function's Timeout less
a margin, so that a 503 is answered by us and not cut off by Lambda.

The deadline is the Lambda context's remaining time less `MARGIN_SECONDS`, set per invocation
(`time_budget`). Hooks on the shared botocore session (`register`) enforce it on every client made
from it, the Encryption SDK's KMS client included: an attempt starts only while time is left, its
read timeout is cut to the time left, and botocore does not retry when its backoff would outlast
the deadline. A spent budget raises `TimeBudgetSpentError`, which every caller already reports as
the dependency being unavailable (503).

The hooks also note, per call, whether an attempt failed without telling whether it was applied
(a connection dropped or timed out after the request was sent, a 5xx): a write that met such a
failure may have committed (`uncertain_outcome`).
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final, Protocol

import botocore.exceptions
import botocore.session

# Per-attempt timeouts of every client (the read timeout is cut further to the time left).
CONNECT_TIMEOUT_SECONDS: Final = 1
READ_TIMEOUT_SECONDS: Final = 5
# Writing the 503, the audit line and the metrics once the AWS calls are over.
ANSWER_SECONDS: Final = 0.5
# The deadline's distance from the function's end: an attempt started just before the deadline
# may still spend its connect timeout (only the read timeout can be cut per request).
MARGIN_SECONDS: Final = CONNECT_TIMEOUT_SECONDS + ANSWER_SECONDS
# No attempt starts with less than this left: it could not get an answer anyway.
MIN_ATTEMPT_SECONDS: Final = 0.05
# botocore's standard retry mode waits at most base * 2 ** (attempt - 1) s before the next attempt,
# capped at 20 s: base 1 s after throttling, 50 ms (25 ms for DynamoDB) after anything else
# (botocore.retries.standard, with its list of throttling codes).
_THROTTLED_BACKOFF_BASE_SECONDS: Final = 1.0
_BACKOFF_BASE_SECONDS: Final = 0.05
_BACKOFF_CAP_SECONDS: Final = 20.0
_THROTTLING_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)


class RemainingTime(Protocol):
    """What the budget reads from a Lambda context."""

    def get_remaining_time_in_millis(self) -> int: ...


class TimeBudgetSpentError(botocore.exceptions.BotoCoreError):
    """No AWS call is started: the invocation's time budget is spent."""

    fmt = "The invocation's time budget for AWS calls is spent"


class _Call:
    """What the hooks learn about the AWS calls made inside `uncertain_outcome`."""

    __slots__ = ("uncertain",)

    def __init__(self) -> None:
        self.uncertain = False


_deadline: ContextVar[float | None] = ContextVar("aws_deadline", default=None)
_call: ContextVar[_Call | None] = ContextVar("aws_call_outcome", default=None)


@contextmanager
def time_budget(context: RemainingTime | None) -> Iterator[None]:
    """Within this block, AWS calls end by the context's remaining time less `MARGIN_SECONDS`
    (no budget without a context)."""
    if context is None:
        yield
        return
    deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
    token = _deadline.set(deadline)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds until the current budget's deadline (None outside a budget)."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def seconds_left(context: RemainingTime) -> float:
    """Seconds left for work that ends in AWS calls: the budget's, else the context's less the
    margin."""
    left = time_left()
    return left if left is not None else context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS


@contextmanager
def uncertain_outcome() -> Iterator[_Call]:
    """Tells (`.uncertain`) whether an attempt of the AWS calls made in the block failed in a way
    that leaves unknown whether the service applied it."""
    call = _Call()
    token = _call.set(call)
    try:
        yield call
    finally:
        _call.reset(token)


def _before_send(request: Any, **_: Any) -> None:
    left = time_left()
    if left is None:
        return
    if left < MIN_ATTEMPT_SECONDS:
        raise TimeBudgetSpentError()
    # botocore reads a per-request read timeout from the request context (httpsession).
    configured = request.context["client_config"].read_timeout
    request.context["read_timeout"] = min(float(configured), left)


# Failures that say the request never reached the service (so it was not applied).
_NOT_SENT = (
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.EndpointConnectionError,
    TimeBudgetSpentError,
)


def _uncertain(response: Any, caught_exception: BaseException | None) -> bool:
    if caught_exception is not None:
        return not isinstance(caught_exception, _NOT_SENT)
    http_response = response[0] if response else None
    return http_response is not None and http_response.status_code >= 500


def _throttled(response: Any) -> bool:
    if not response:
        return False
    http_response, parsed = response
    code = ((parsed or {}).get("Error") or {}).get("Code")
    return code in _THROTTLING_CODES or getattr(http_response, "status_code", 0) == 429


def _after_attempt(
    attempts: int, response: Any = None, caught_exception: BaseException | None = None, **_: Any
) -> bool | None:
    call = _call.get()
    if call is not None and _uncertain(response, caught_exception):
        call.uncertain = True
    left = time_left()
    if left is None:
        return None
    base = _THROTTLED_BACKOFF_BASE_SECONDS if _throttled(response) else _BACKOFF_BASE_SECONDS
    longest_wait = min(_BACKOFF_CAP_SECONDS, base * 2 ** (attempts - 1))
    # False: no retry (the retry handler, which runs after this one, is not asked).
    return False if left < longest_wait + MIN_ATTEMPT_SECONDS else None


def register(session: botocore.session.Session) -> None:
    """Enforce the budget on every client made from `session` from now on."""
    emitter = session.get_component("event_emitter")
    emitter.register("before-send", _before_send, unique_id="time-budget-before-send")
    # More specific event names run first: `needs-retry.<service>.<operation>` comes before the
    # retry handler botocore registers on `needs-retry.<service>`.
    emitter.register("needs-retry.*.*", _after_attempt, unique_id="time-budget-needs-retry")
