"""DynamoDB outcomes as types: expected ones (a condition that was false, a transaction cancelled
on a condition, contention with another transaction) are their own exceptions, never an outage
error; every other failure is a `DependencyError` (unavailable or misconfigured).

Contention is retried here, once for every write: DynamoDB cancels a write that meets another
transaction on the same item (a single-item write gets `TransactionConflictException`, a
transaction a `TransactionConflict` reason) and botocore retries neither. Bounded, full-jitter
backoff; then the request fails with a 503.

Every transaction carries one `ClientRequestToken` for all its tries (botocore's, the conflict
retries, and the resends below): DynamoDB answers a try of a transaction that already committed
under the token as it answered the first, without applying it again, so a write whose answer was
lost is not met by its own condition (a create by its own row, a delete by its own absence). A
single-item conditional write has no token: a try after one that committed is met by its own
condition, and the item returned with that failure tells the writer it was its own write
(`CredentialsRepository.replace`, `RefreshLeases.acquire`). When a try's outcome is unknown (the
connection dropped or timed out after sending, a 5xx) and botocore's attempts are spent, the
write is sent again while the request's time budget allows: the answer then says what happened.
Only when no answer comes before the budget ends is the outcome unknown to the service too (a
503, logged and counted).
"""

import random
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import botocore.exceptions
from aws_lambda_powertools.metrics import MetricUnit

from ...core.errors import DependencyUnavailableError
from ..aws import aws_error_code, dependency_error_of
from ..budget import MIN_ATTEMPT_SECONDS, time_left, uncertain_outcome
from ..observability import logger, metrics

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef

T = TypeVar("T")

CONFLICT_ATTEMPTS: Final = 5
_CONFLICT_BACKOFF_BASE_SECONDS: Final = 0.02
_CONFLICT_BACKOFF_CAP_SECONDS: Final = 0.25
# Resends of a transaction whose outcome is unknown: while the budget lasts, or this many without one.
RESENDS_WITHOUT_BUDGET: Final = 3
_RESEND_BACKOFF_SECONDS: Final = 0.05


class Table:
    """Access to one DynamoDB table through one client (the base of every store here)."""

    def __init__(self, table_name: str, client: "DynamoDBClient") -> None:
        self._table = table_name
        self._client = client


class ConditionFailedError(Exception):
    """A single-item write's `ConditionExpression` was false: an expected outcome, never an
    outage. `item` is the item as it was (ReturnValuesOnConditionCheckFailure), if asked for."""

    def __init__(self, item: Mapping[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class TransactionCancelledError(Exception):
    """A transaction was cancelled: one reason code per item (`ConditionalCheckFailed`,
    `TransactionConflict`, `None`...), and whether the first item's condition failed on an
    item that does not exist."""

    def __init__(self, codes: list[str], first_old_item_missing: bool) -> None:
        super().__init__(",".join(codes))
        self.codes = codes
        self.first_old_item_missing = first_old_item_missing

    @property
    def condition_failed(self) -> bool:
        """Whether a condition of the transaction was false (the others then say `None`)."""
        return "ConditionalCheckFailed" in self.codes


class TransactionConflictError(Exception):
    """A single-item write met a transaction on its item: retried by `retry_conflicts`."""


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    """Expected outcomes as their own types (`ConditionFailedError`, `TransactionCancelledError`,
    `TransactionConflictError`); every other DynamoDB failure as a `DependencyError`."""
    try:
        yield
    except botocore.exceptions.ClientError as error:
        code = aws_error_code(error)
        if code == "ConditionalCheckFailedException":
            raise ConditionFailedError(cast("Mapping[str, Any] | None", error.response.get("Item"))) from None
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons", [])
            first = reasons[0] if reasons else {}
            old_item_missing = first.get("Code") == "ConditionalCheckFailed" and not first.get("Item")
            codes = [str(reason.get("Code", "None")) for reason in reasons]
            raise TransactionCancelledError(codes, old_item_missing) from None
        if code == "TransactionConflictException":
            raise TransactionConflictError(code) from None
        raise dependency_error_of("DynamoDB", error) from error
    except botocore.exceptions.BotoCoreError as error:
        raise dependency_error_of("DynamoDB", error) from error


def conflict_backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...) of a write that met a transaction."""
    step = min(_CONFLICT_BACKOFF_CAP_SECONDS, _CONFLICT_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not crypto


def retry_conflicts(call: Callable[[], T]) -> T:
    """Run a write (a single item or a transaction), retrying while it meets another transaction;
    `DependencyUnavailableError` once the attempts are spent. A cancelled transaction whose
    conditions failed, or that was cancelled for another reason, is raised at once."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return call()
        except TransactionConflictError:
            if attempt == CONFLICT_ATTEMPTS:
                raise DependencyUnavailableError("DynamoDB", "TransactionConflictException") from None
        except TransactionCancelledError as cancelled:
            if cancelled.condition_failed:
                raise
            if "TransactionConflict" not in cancelled.codes or attempt == CONFLICT_ATTEMPTS:
                raise DependencyUnavailableError(
                    "DynamoDB", "TransactionCanceled:" + ",".join(cancelled.codes)
                ) from None
        time.sleep(conflict_backoff(attempt))
    raise AssertionError("unreachable")


def transact(client: "DynamoDBClient", items: "list[TransactWriteItemTypeDef]") -> None:
    """Run a write transaction under one client request token, retrying contention and resending
    it while its outcome is unknown; `TransactionCancelledError` when one of its conditions was
    false (on a resend: the earlier tries did not commit, or DynamoDB would have answered as to
    them)."""
    token = str(uuid.uuid4())

    def write() -> None:
        with dynamodb_errors():
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)

    resending(write)


def resending(write: Callable[[], T]) -> T:
    """Run a write, retrying contention and sending it again while its outcome is unknown (the
    answer lost, a 5xx) and the budget allows. A transaction is answered as to its first try
    (its token); a single-item conditional write that did commit meets its own condition on the
    resend, with the item as it wrote it (`ConditionFailedError.item`): its caller tells the two
    apart."""
    uncertain = False
    resends = 0
    while True:
        with uncertain_outcome() as call:
            try:
                return retry_conflicts(write)
            except DependencyUnavailableError as error:
                uncertain = uncertain or call.uncertain
                if not uncertain:
                    raise
                if not may_resend(resends):
                    logger.warning(
                        "write outcome unknown", extra={"dependency": "DynamoDB", "code": error.code}
                    )
                    metrics.add_metric(name="DependencyOutcomeUnknown", unit=MetricUnit.Count, value=1)
                    raise
        resends += 1
        resend_pause()


def may_resend(resends: int) -> bool:
    """Whether a call whose outcome is unknown may be made again after `resends` such calls:
    while the request's time budget leaves room for one more (a few times without a budget)."""
    left = time_left()
    if left is None:
        return resends < RESENDS_WITHOUT_BUDGET
    return left > _RESEND_BACKOFF_SECONDS + 2 * MIN_ATTEMPT_SECONDS


def resend_pause() -> None:
    """A short, jittered pause before a call is made again."""
    time.sleep(random.uniform(_RESEND_BACKOFF_SECONDS / 2, _RESEND_BACKOFF_SECONDS))  # noqa: S311
