"""The exceptions: one per answer a caller handles differently, each carrying the HTTP `status`
(None when no answer came) and the service's `detail`. Messages hold only what the service put in
`detail` (which never holds a token) or text of this package: never a token, a header or a body."""

from typing import Any


class IntegrationCredentialsError(Exception):
    """Base of every error this package raises."""

    def __init__(self, status: int | None, detail: str, *, retry_after: float | None = None) -> None:
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(f"{status} {detail}" if status is not None else detail)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, detail={self.detail!r})"


class ApiError(IntegrationCredentialsError):
    """The service answered with an error status (the subclasses name the usual ones)."""


class BadRequest(ApiError):
    """400: the request was invalid (`detail` names the field)."""


class Unauthorized(ApiError):
    """401: no valid API key or token."""


class Forbidden(ApiError):
    """403: the key or token may not do this, or the credentials belong to another organization."""


class NotFound(ApiError):
    """404: no such credentials in the caller's organization."""


class Conflict(ApiError):
    """409: the credentials exist already, an Idempotency-Key was reused with another body, a
    refresh is in progress, or the credentials cannot be refreshed (the subclasses)."""


class ReauthorizationRequired(Conflict):
    """409 from the refresh route: the CRM refused the stored grant for good (status
    `reauth_required`); someone has to reconnect the CRM."""


class NotRefreshable(Conflict):
    """409 from the refresh route: no refresh token or no refresh client for this provider."""


class PreconditionFailed(ApiError):
    """412: `if_match` named a version the credentials no longer have; `current_etag` is theirs."""

    def __init__(
        self, status: int | None, detail: str, *, current_etag: str | None = None, **kw: Any
    ) -> None:
        super().__init__(status, detail, **kw)
        self.current_etag = current_etag


class PayloadTooLarge(ApiError):
    """413: the request body is over the service's limit."""


class UnsupportedMediaType(ApiError):
    """415: the body was not JSON."""


class TooManyRequests(ApiError):
    """429: too many at once (connect links in progress); `retry_after` says when to try again."""


class ServerError(ApiError):
    """500: the service failed or is misconfigured; retrying does not help."""


class BadGateway(ApiError):
    """502: the CRM's token endpoint rejected the service's OAuth client (an operator's problem)."""


class ServiceUnavailable(ApiError):
    """503: a dependency failed and nothing was written; retry after `retry_after` seconds."""


class ConnectionFailed(IntegrationCredentialsError):
    """No answer: the service could not be reached, or the connection closed before its answer (a
    write may then have happened: a create retried with its Idempotency-Key tells)."""


class ReconnectRequired(IntegrationCredentialsError):
    """The CRM keeps refusing the credentials and the service cannot renew them: the customer must
    reconnect the CRM (`POST /integration-credentials/connect` with `credentials_id`)."""

    def __init__(
        self, status: int | None, reason: str, *, credentials_id: str | None, provider: str | None
    ) -> None:
        self.credentials_id = credentials_id
        self.provider = provider
        hint = "POST /integration-credentials/connect"
        if credentials_id:
            hint += f' with {{"credentials_id": "{credentials_id}"}}'
        crm = provider or "the CRM"
        super().__init__(
            status, f"The customer must reconnect {crm} ({reason}); start the connection with {hint}"
        )


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    412: PreconditionFailed,
    413: PayloadTooLarge,
    415: UnsupportedMediaType,
    429: TooManyRequests,
    500: ServerError,
    502: BadGateway,
    503: ServiceUnavailable,
}


def error_for(status: int, detail: str, *, retry_after: float | None, etag: str | None) -> ApiError:
    """The exception of an error answer (status, the service's detail, its headers)."""
    if status == 409 and "need re-authorization" in detail:
        return ReauthorizationRequired(status, detail, retry_after=retry_after)
    if status == 409 and "cannot be refreshed" in detail:
        return NotRefreshable(status, detail, retry_after=retry_after)
    if status == 412:
        return PreconditionFailed(status, detail, retry_after=retry_after, current_etag=etag)
    kind = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    return kind(status, detail, retry_after=retry_after)
