"""The one mapping from domain errors to HTTP: a table of error type -> status, `detail` and
headers (a test holds that every domain error type is in it), and how each is logged."""

from collections.abc import Callable, Mapping
from typing import Any, Final

from aws_lambda_powertools.event_handler import Response

from ..adapters.observability import logger, report_dependency_error, report_integrity_failure
from ..core.constants import FORBIDDEN_DETAIL, UNAUTHORIZED_DETAIL
from ..core.errors import (
    AccountMismatchError,
    AccountUnverifiedError,
    AuthenticationError,
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsError,
    CredentialsIntegrityError,
    CredentialsNotFoundError,
    CrmIdentityError,
    CrmRejectedCredentialsError,
    CrmUnavailableError,
    DependencyError,
    DependencyMisconfiguredError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    InvalidConnectStateError,
    InvalidRequestError,
    NotRefreshableError,
    NotVerifiableError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    ProviderRejectedError,
    ProviderUnavailableError,
    ReauthorizationRequiredError,
    RefreshDeferredError,
    RefreshInProgressError,
    TooManyConnectStatesError,
    TooManyCredentialsError,
    UnsupportedMediaTypeError,
)
from ..core.frozen import Frozen, set_field
from .responses import json_response

RETRY_AFTER_SECONDS: Final = "2"
INTERNAL_ERROR_DETAIL: Final = "Internal server error"
MISCONFIGURED_DETAIL: Final = (
    "The service is misconfigured and cannot complete this request; retrying will not help "
    "until its operator fixes the deployment"
)


def _message(error: Any) -> str:
    return str(error)


def _no_headers(error: Any) -> Mapping[str, str]:
    return {}


def _fixed(text: str) -> Callable[[Any], str]:
    return lambda error: text


def _fixed_headers(headers: Mapping[str, str]) -> Callable[[Any], Mapping[str, str]]:
    return lambda error: headers


_RETRY_SOON: Final = _fixed_headers({"Retry-After": "1"})


class HttpError(Frozen):
    """How one domain error type is answered."""

    __slots__ = ("detail", "headers", "status")

    status: int
    detail: Callable[[Any], str]
    headers: Callable[[Any], Mapping[str, str]]

    def __init__(
        self,
        status: int,
        detail: Callable[[Any], str] = _message,
        headers: Callable[[Any], Mapping[str, str]] = _no_headers,
    ) -> None:
        set_field(self, "status", status)
        set_field(self, "detail", detail)
        set_field(self, "headers", headers)


def _integrity_detail(error: CredentialsIntegrityError) -> str:
    if error.credentials_id:
        return f"Stored credentials {error.credentials_id} failed an integrity check"
    return "Stored credentials failed an integrity check"


def _current_etag(error: PreconditionFailedError) -> Mapping[str, str]:
    return {"ETag": error.current_etag} if error.current_etag else {}


ERROR_TABLE: Final[Mapping[type[CredentialsError], HttpError]] = {
    AuthenticationError: HttpError(
        401, _fixed(UNAUTHORIZED_DETAIL), _fixed_headers({"WWW-Authenticate": "Bearer"})
    ),
    PermissionDeniedError: HttpError(403, _fixed(FORBIDDEN_DETAIL)),
    CredentialsNotFoundError: HttpError(404),
    CredentialsAlreadyExistError: HttpError(409),
    ConcurrentModificationError: HttpError(
        409, _fixed("Integration credentials were modified concurrently; retry the request"), _RETRY_SOON
    ),
    # Only a first request still running is worth waiting for: a reused key's answer never changes.
    IdempotencyConflictError: HttpError(
        409, headers=lambda error: {"Retry-After": "1"} if error.in_progress else {}
    ),
    PreconditionFailedError: HttpError(412, headers=_current_etag),
    InvalidRequestError: HttpError(400, lambda error: f"Validation error: {error}"),
    # No redirect: the state is what would say where to, and it cannot be trusted.
    InvalidConnectStateError: HttpError(400, headers=_fixed_headers({"Cache-Control": "no-store"})),
    ReauthorizationRequiredError: HttpError(409),
    # The connect callback answers both with a redirect (error=account_mismatch / account_unverified).
    AccountMismatchError: HttpError(409),
    AccountUnverifiedError: HttpError(503, headers=_RETRY_SOON),
    RefreshInProgressError: HttpError(409, headers=_RETRY_SOON),
    RefreshDeferredError: HttpError(503, headers=_RETRY_SOON),
    TooManyCredentialsError: HttpError(409),
    # Not a conflict to fix: the org's links in progress are at the limit until one is used or expires.
    TooManyConnectStatesError: HttpError(429, headers=lambda error: {"Retry-After": str(error.retry_after)}),
    # The credentials' current state (no refresh token, no refresh client) conflicts with it.
    NotRefreshableError: HttpError(409),
    # A provider without an identity call: nothing about these credentials could change that.
    NotVerifiableError: HttpError(409),
    # A create with ?verify=true: nothing is stored in any of these cases.
    CrmRejectedCredentialsError: HttpError(400),
    CrmUnavailableError: HttpError(503, headers=lambda error: {"Retry-After": str(error.retry_after)}),
    CrmIdentityError: HttpError(502),
    ProviderRejectedError: HttpError(502),
    ProviderUnavailableError: HttpError(503, headers=lambda error: {"Retry-After": str(error.retry_after)}),
    PayloadTooLargeError: HttpError(413),
    UnsupportedMediaTypeError: HttpError(415),
    DependencyUnavailableError: HttpError(
        503,
        lambda error: f"Service temporarily unavailable ({error.dependency}); retry later",
        lambda error: {"Retry-After": str(error.retry_after or RETRY_AFTER_SECONDS)},
    ),
    # Not "retry later": a deployment problem no retry fixes (the log has the AWS code).
    DependencyMisconfiguredError: HttpError(500, _fixed(MISCONFIGURED_DETAIL)),
    CredentialsIntegrityError: HttpError(500, _integrity_detail),
    # Base types, never raised as such, and errors only the refresher handles: a bug if they get here.
    DependencyError: HttpError(500, _fixed(INTERNAL_ERROR_DETAIL)),
    CredentialsError: HttpError(500, _fixed(INTERNAL_ERROR_DETAIL)),
}


def http_error_of(error: CredentialsError) -> HttpError:
    """The table's entry for an error: its own type's, else its nearest base type's."""
    for cls in type(error).__mro__:
        entry = ERROR_TABLE.get(cls)
        if entry is not None:
            return entry
    raise AssertionError("CredentialsError is in the table")


def error_response(error: CredentialsError) -> Response[str]:
    """The HTTP response of a domain error: `{"detail": ...}` with its status and headers."""
    entry = http_error_of(error)
    return json_response(entry.status, {"detail": entry.detail(error)}, entry.headers(error))


def audit_status(error: CredentialsError | None) -> int:
    """The status a route answers for an outcome (200 when there was no error): what the audit
    record of work done off a request (a queued refresh) carries."""
    return 200 if error is None else http_error_of(error).status


def log_error(error: CredentialsError) -> None:
    """Log (and count) a domain error: client errors are outcomes, not stack traces; messages
    here never hold request data."""
    if isinstance(error, DependencyUnavailableError | DependencyMisconfiguredError):
        report_dependency_error(error)
    elif isinstance(error, CredentialsIntegrityError):
        report_integrity_failure(str(error), error.credentials_id)
    else:
        logger.info("request rejected", extra={"reason": type(error).__name__})
