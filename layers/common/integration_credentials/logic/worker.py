"""The refresh worker's work for one SQS message, by its `kind`: refresh the credential if it is
still due, or verify it where no refresh touches it (the scheduler's messages, which name no
kind), or revoke a deleted credential's grant at the CRM (DELETE's); the audit record of what
happened; and the bounded pool of threads in which the records of a batch run at once (each
waits on its provider)."""

import asyncio
import contextvars
import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import NamedTuple, ParamSpec, TypeVar

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..adapters import events
from ..adapters.audit import AuditRecord
from ..adapters.auth import Principal
from ..adapters.observability import logger, metrics
from ..adapters.parameters import ssm_provider
from ..adapters.revocations import RevokeMessage
from ..core.errors import CredentialsError, RefreshDeferredError
from ..core.settings import get_settings
from ..policy.schedule import refresh_budget_seconds
from . import revocation
from .health import credentials_verifier
from .refresh import TimeLeft, token_refresher

Arguments = ParamSpec("Arguments")
Result = TypeVar("Result")

# The HTTP status the refresh route answers for an outcome (None: refreshed); the audit record
# of a queued refresh carries the same status. The handler passes the HTTP layer's mapping.
AuditStatus = Callable[[CredentialsError | None], int]
# What the worker does with one message: (body, message id, time left; audit_status) -> outcome word.
MessageHandler = Callable[..., str]


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
        return _rejected(message_id)
    work = due_work(message, time_left)
    metrics.add_metric(name=f"{work.action.capitalize()}.{work.outcome}", unit=MetricUnit.Count, value=1)
    logger.info(
        f"{work.action} outcome",
        extra={"credentials_id": message.id, "provider": message.provider, "outcome": work.outcome},
    )
    if work.outcome == "skipped":
        return work.outcome  # nothing happened to the credential: not an auditable action
    record = _worker_record(work.action, message_id, message.org_id, message.id, message.provider)
    record.reason = work.reason
    record.emit(audit_status(work.error))
    return work.outcome


def revoke_queued_message(
    body: str, message_id: str, time_left: TimeLeft | None = None, *, audit_status: AuditStatus
) -> str:
    """Revoke the grant of the deleted credential the message names (`logic.revocation`), then
    audit and publish the outcome; the outcome word. Raises (so the message comes back) when the
    CRM, DynamoDB, KMS or SSM fail for now."""
    try:
        message = RevokeMessage.model_validate_json(body)
    except ValidationError:
        return _rejected(message_id)
    ids = {"credentials_id": message.id, "provider": message.provider}
    if time_left is not None and time_left() < refresh_budget_seconds(get_settings()):
        # Not started: the CRM call and what follows it would not fit in this invocation.
        raise RefreshDeferredError(message.id)
    try:
        done = revocation.revoker().revoke(message)
    except CredentialsError as error:
        logger.warning("revocation failed for now", extra={**ids, "reason": type(error).__name__})
        metrics.add_metric(name="Revoke.retried", unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name=f"Revoke.{done.outcome}", unit=MetricUnit.Count, value=1)
    logger.info("revocation outcome", extra={**ids, "outcome": done.outcome, "token_kind": done.token_kind})
    if done.outcome not in ("revoked", "failed"):
        return done.outcome  # nothing was done at the CRM: not an auditable action
    record = _worker_record("revoke", message_id, message.org_id, message.id, message.provider)
    record.extra["token_kind"] = done.token_kind
    if done.error is not None:
        record.reason = done.error.code
    record.emit(audit_status(done.error))
    events.publish_revocation(
        events.REVOKED if done.error is None else events.REVOCATION_FAILED,
        org_id=message.org_id,
        provider=message.provider,
        credentials_id=message.id,
        error_code=done.error.code if done.error is not None else None,
    )
    return done.outcome


# Each kind of queued message and its handler; a message without `kind` is a refresh.
MESSAGE_HANDLERS: dict[str, MessageHandler] = {
    "refresh": refresh_queued_message,
    "revoke": revoke_queued_message,
}


def handle_queued_message(
    body: str, message_id: str, time_left: TimeLeft | None = None, *, audit_status: AuditStatus
) -> str:
    """Hand one queued message to the handler of its `kind` (`MESSAGE_HANDLERS`); the outcome
    word. A message of no known kind is dropped (retrying cannot help)."""
    handler = MESSAGE_HANDLERS.get(message_kind(body))
    if handler is None:
        return _rejected(message_id)
    return handler(body, message_id, time_left, audit_status=audit_status)


def message_kind(body: str) -> str:
    """The `kind` a message names; "refresh" when it names none (or is not a JSON object: the
    refresh handler rejects it)."""
    try:
        document = json.loads(body)
    except ValueError:
        return "refresh"
    if not isinstance(document, dict) or "kind" not in document:
        return "refresh"
    kind = document["kind"]
    return kind if isinstance(kind, str) else ""


def _rejected(message_id: str) -> str:
    # A message we did not write: retrying cannot help, so it is dropped (and counted).
    logger.error("queued message rejected", extra={"message_id": message_id})
    metrics.add_metric(name="Refresh.invalid", unit=MetricUnit.Count, value=1)
    return "invalid"


def _worker_record(
    action: str, message_id: str, org_id: str, credentials_id: str, provider: str
) -> AuditRecord:
    return AuditRecord(
        action=action,
        request_id=message_id,
        source_ip="",
        user_agent="refresh-worker",
        credentials_id=credentials_id,
        provider=provider,
        principal=Principal(org_id, "scheduler", "refresh-worker"),
    )


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
    revocation.revoker()
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
