"""Idempotent create (`Idempotency-Key`), with Powertools idempotency on DynamoDB.

The record is keyed on the org and the key, validated against an HMAC of the request body
(a different body with the same key is a 409), and stores only the new credentials' id: never a
token. A retry rebuilds its 201 from the stored row.

The credentials row is the truth, the record only its index: the row carries the HMAC of the
request that created it (org, key, body), so a create whose write committed answers 201 whatever
happens to the record afterwards (Powertools raises `IdempotencyPersistenceLayerError` when
saving the result fails, after the function's effects, and leaves the record "in progress" until
it expires), and a retry of it answers the same 201 while the record is still in progress, once
it has expired, or when the first attempt's outcome was never known to it."""

import json
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Generic, TypeVar

import botocore.exceptions
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from ..adapters.audit import Audit
from ..adapters.aws import dependency_error_of, dynamodb_client
from ..adapters.budget import uncertain_outcome
from ..adapters.parameters import service_hmac
from ..adapters.storage.dynamodb import may_resend, resend_pause
from ..core.bodies.create import CredentialsCreate
from ..core.errors import (
    CredentialsAlreadyExistError,
    CredentialsError,
    CredentialsNotFoundError,
    DependencyMisconfiguredError,
    DependencyUnavailableError,
    IdempotencyConflictError,
)
from ..core.models import CredentialsResult, body_secret, format_timestamp
from ..core.settings import get_settings
from .credentials import credentials_service

RECORD_HOURS = 24
T = TypeVar("T")

_run: ContextVar[Callable[[], dict[str, Any]]] = ContextVar("idempotent_create_run")


def _run_create(request: dict[str, Any]) -> dict[str, Any]:
    # What Powertools persists: the id only (the request itself is only hashed).
    return _run.get()()


class _RecordStore(DynamoDBPersistenceLayer):
    """Powertools' DynamoDB records, made sure of their own writes. A put whose answer was lost
    is retried by botocore and meets its own condition (the record exists), which Powertools
    would take for another request in progress; when no answer came at all, the record is read
    back. A failed delete (the function failed) is made again while the budget allows: a record
    left in progress would hold the key's retries off until it expires."""

    def _put_record(self, data_record: DataRecord) -> None:
        with uncertain_outcome() as call:
            try:
                super()._put_record(data_record)
                return
            except IdempotencyItemAlreadyExistsError as exists:
                old = exists.old_data_record
                if old is None or not _same_put(old, data_record):
                    raise
                return
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as error:
                if not call.uncertain:
                    raise
                failure = error
        # Unknown whether the put was applied: the record says.
        reads = 0
        while True:
            try:
                stored = self._get_record(data_record.idempotency_key)
            except IdempotencyItemNotFoundError:
                raise failure from None  # not applied: nothing written
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                if not may_resend(reads):
                    raise failure from None
                reads += 1
                resend_pause()
                continue
            if _same_put(stored, data_record):
                return
            raise IdempotencyItemAlreadyExistsError(old_data_record=stored)

    def _delete_record(self, data_record: DataRecord) -> None:
        deletes = 0
        while True:
            try:
                super()._delete_record(data_record)
                return
            except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError):
                # An unconditional delete: making it again is harmless.
                if not may_resend(deletes):
                    raise
                deletes += 1
                resend_pause()


def _same_put(stored: DataRecord, put: DataRecord) -> bool:
    # The in-progress expiry is this invocation's end in milliseconds: another request with the
    # same key and body ending in the same millisecond would also run, and its create would then
    # find the row this one made (`_own_creation`).
    return (
        stored.status == put.status
        and stored.in_progress_expiry_timestamp == put.in_progress_expiry_timestamp
        and stored.expiry_timestamp == put.expiry_timestamp
        and stored.payload_hash == put.payload_hash
    )


class _PerThread(Generic[T]):
    """A value made once per thread, as `functools.cache` makes it once per process. Powertools'
    idempotency config and persistence layer hold the current invocation's state (its Lambda
    context, the record being written): a Lambda instance runs one invocation at a time, and
    threads that invoke handlers side by side in one process (the in-process tests) must not share
    it either."""

    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._local = threading.local()

    def __call__(self) -> T:
        value: T | None = getattr(self._local, "value", None)
        if value is None:
            value = self._local.value = self._factory()
        return value

    def cache_clear(self) -> None:
        """Forget every thread's value (each makes a new one on its next call)."""
        self._local = threading.local()


@_PerThread
def _config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[org_id, idempotency_key]",
        payload_validation_jmespath="request_hmac",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=RECORD_HOURS * 3600,
        hash_function="sha256",
    )


@_PerThread
def _idempotent_create() -> Callable[..., dict[str, Any]]:
    settings = get_settings()
    if not settings.idempotency_table_name:
        raise DependencyMisconfiguredError("DynamoDB", "IdempotencyTableNotConfigured")
    persistence = _RecordStore(table_name=settings.idempotency_table_name, boto3_client=dynamodb_client())
    wrapped: Callable[..., dict[str, Any]] = idempotent_function(
        _run_create,
        data_keyword_argument="request",
        persistence_store=persistence,
        config=_config(),
        key_prefix="integration-credentials.create",
    )
    return wrapped


def create_idempotently(
    org_id: str,
    body: CredentialsCreate,
    idempotency_key: str | None,
    lambda_context: LambdaContext | None = None,
    *,
    audit: Audit = None,
    verify: bool = False,
) -> CredentialsResult:
    """Create credentials; with a key, at most once per org and key (24 h). With `verify`, only
    once the CRM accepted them (`logic.health.verify_new`): a retry replays the first 201 without
    asking the CRM again, and the same key with another `verify` is another request (409)."""
    service = credentials_service()

    def create(idempotency_hmac: str | None = None) -> CredentialsResult:
        verified = None
        if verify:
            # Imported here: a create without ?verify never loads the providers' HTTP clients.
            from .health import verify_new

            verified = verify_new(body.provider, body_secret(body))
        return service.create(org_id, body, audit=audit, idempotency_hmac=idempotency_hmac, verified=verified)

    if idempotency_key is None:
        return create()
    fresh: list[CredentialsResult] = []
    request_fields = body.model_dump(mode="json")
    if verify:
        # Only when set: a request without it keeps the fingerprint it always had.
        request_fields["?verify"] = True
    canonical = json.dumps(request_fields, sort_keys=True, separators=(",", ":")).encode()
    body_hmac = service_hmac(canonical)
    request = {"org_id": org_id, "idempotency_key": idempotency_key, "request_hmac": body_hmac}
    # Names this request (org, key and body) on the row it creates.
    request_hmac = service_hmac(json.dumps([org_id, idempotency_key, body_hmac]).encode())

    def own_creation() -> CredentialsResult | None:
        since = format_timestamp(time.time() - RECORD_HOURS * 3600)
        return service.created_by(org_id, body.provider, request_hmac, since=since, audit=audit)

    def run() -> dict[str, Any]:
        try:
            result = create(request_hmac)
        except CredentialsAlreadyExistError:
            # An earlier attempt of this request created them (its record expired in progress,
            # or it never learnt its own outcome): its 201, now recorded.
            own = own_creation()
            if own is None:
                raise
            result = own
        fresh.append(result)
        return {"id": result.body["id"]}

    if lambda_context is not None:
        # Lets an in-progress record expire with the invocation if the Lambda times out.
        _config().register_lambda_context(lambda_context)
    token = _run.set(run)
    try:
        stored = _idempotent_create()(request=request)
    except IdempotencyValidationError:
        raise IdempotencyConflictError(
            "Idempotency-Key was already used with a different request body"
        ) from None
    except IdempotencyAlreadyInProgressError:
        # In progress, or an attempt that committed and could not complete its record.
        own = own_creation()
        if own is not None:
            return own
        raise IdempotencyConflictError(
            "A request with this Idempotency-Key is still in progress", in_progress=True
        ) from None
    except IdempotencyPersistenceLayerError as error:
        if fresh:
            # The credentials are stored: the failure is the record's, which a retry does not need.
            return fresh[0]
        raise _persistence_error(error) from error
    finally:
        _run.reset(token)
    if fresh:
        return fresh[0]
    try:
        return service.get_by_id(org_id, str(stored["id"]), audit=audit)
    except CredentialsNotFoundError:
        raise IdempotencyConflictError(
            "The credentials created with this Idempotency-Key have since been deleted"
        ) from None


def _persistence_error(error: Exception) -> Exception:
    """The domain error behind a failed idempotency record read or write: the create's own
    failure when the record could not be removed after it (Powertools raises the removal's error,
    the create's is its context), else the botocore error Powertools wraps; its own errors
    without one count as DynamoDB being unavailable."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    for failure in chain:
        if isinstance(failure, CredentialsError):
            return failure
    for failure in chain:
        if isinstance(failure, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
            return dependency_error_of("DynamoDB", failure)
    return DependencyUnavailableError("DynamoDB", "IdempotencyPersistence")
