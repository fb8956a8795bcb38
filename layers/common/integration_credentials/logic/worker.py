"""The refresh worker's work for one SQS message: refresh the credential if it is still due (or
verify it, where no refresh touches it), and write the audit record of what happened; and the
bounded pool of threads in which the records of a batch are handled at once (each waits on its
provider)."""

import asyncio
import contextvars
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import NamedTuple, ParamSpec, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..adapters.audit import AuditRecord
from ..adapters.auth import Principal
from ..adapters.observability import logger, metrics
from ..adapters.parameters import ssm_provider
from ..core.errors import CredentialsError
from ..core.settings import get_settings
from .health import credentials_verifier
from .refresh import TimeLeft, token_refresher

Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")

# The HTTP status the refresh route answers for an outcome (None: refreshed); the audit record
# of a queued refresh carries the same status. The handler passes the HTTP layer's mapping.
AuditStatus = Callable[[CredentialsError | None], int]


class RefreshMessage(BaseModel):
    """What the scheduler enqueues for one due credential."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    org_id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    id: str = Field(min_length=1)


class Work(NamedTuple):
    """What the worker did for one message: the action (as the audit names it), its outcome word,
    the error that decides the audit status, and the reason the audit records."""

    action: str
    outcome: str
    error: CredentialsError | None = None
    reason: str | None = None


def due_work(message: RefreshMessage, time_left: TimeLeft | None) -> Work:
    """The work a due credential needs: its refresh, or its verification where no refresh
    touches it (the refresher tells, having read it under its lease)."""
    outcome, error = token_refresher().refresh_if_due(
        message.org_id, message.provider, message.id, time_left=time_left
    )
    if outcome != "verify":
        reason = (getattr(error, "code", None) or type(error).__name__) if error is not None else None
        return Work("refresh", outcome, error, reason)
    # A verification's answer, bad news included, is a success of the check (as the route's 200).
    outcome, code = credentials_verifier().verify_if_due(
        message.org_id, message.provider, message.id, time_left=time_left
    )
    return Work("verify", outcome, None, code)


def refresh_queued_message(
    body: str, message_id: str, time_left: TimeLeft | None = None, *, audit_status: AuditStatus
) -> str:
    """Do the message's work (`due_work`) if its credential is still due and audit what happened;
    the outcome word. Raises (so the message comes back) on DynamoDB/KMS/SSM failures and when
    `time_left` does not cover the whole work."""
    try:
        message = RefreshMessage.model_validate_json(body)
    except ValidationError:
        # A message we did not write: retrying cannot help, so it is dropped (and counted).
        logger.error("refresh message rejected", extra={"message_id": message_id})
        metrics.add_metric(name="Refresh.invalid", unit=MetricUnit.Count, value=1)
        return "invalid"
    work = due_work(message, time_left)
    metrics.add_metric(name=f"{work.action.capitalize()}.{work.outcome}", unit=MetricUnit.Count, value=1)
    logger.info(
        f"{work.action} outcome",
        extra={"credentials_id": message.id, "provider": message.provider, "outcome": work.outcome},
    )
    if work.outcome == "skipped":
        return work.outcome  # nothing happened to the credential: not an auditable action
    record = AuditRecord(
        action=work.action,
        request_id=message_id,
        source_ip="",
        user_agent="refresh-worker",
        credentials_id=message.id,
        provider=message.provider,
        principal=Principal(message.org_id, "scheduler", "refresh-worker"),
    )
    record.reason = work.reason
    record.emit(audit_status(work.error))
    return work.outcome


@cache
def _pool(size: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=size, thread_name_prefix="refresh")


def prepare_concurrent_refreshes() -> None:
    """Build, in the calling thread, what the records' threads then share: the refresher with its
    repositories and clients, the cipher (which makes its KMS client when built) and the
    parameter provider. boto3 clients are thread-safe once made; making them is not."""
    from ..adapters.crypto.cipher import credentials_cipher

    token_refresher()
    credentials_verifier()
    credentials_cipher()
    ssm_provider()


async def in_refresh_pool(
    function: Callable[Arguments, Result], *args: Arguments.args, **kwargs: Arguments.kwargs
) -> Result:
    """Run `function` in the refresh pool (REFRESH_WORKER_CONCURRENCY threads), in a copy of
    the caller's context. A record waiting for a thread has not started: its time check runs when
    a thread takes it, against the time left then."""
    context = contextvars.copy_context()
    pool = _pool(get_settings().refresh_worker_concurrency)
    return await asyncio.get_running_loop().run_in_executor(
        pool, lambda: context.run(function, *args, **kwargs)
    )
