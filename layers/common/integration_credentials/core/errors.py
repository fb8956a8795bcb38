"""Domain errors. `http/errors.py` maps each to one HTTP response; nothing else knows about HTTP."""


class CredentialsError(Exception):
    """Base class of every error this service raises on purpose."""


class AuthenticationError(CredentialsError):
    """No valid API key or bearer token."""


class PermissionDeniedError(CredentialsError):
    """The credentials exist but belong to another organisation."""


class CredentialsNotFoundError(CredentialsError):
    """No credentials with this id (or for this provider) in the caller's organisation."""

    def __init__(self, *, credentials_id: str | None = None, provider: str | None = None) -> None:
        self.credentials_id = credentials_id
        self.provider = provider
        if provider is not None:
            message = f"Integration credentials for provider '{provider}' not found"
        else:
            message = f"Integration credentials {credentials_id} not found"
        super().__init__(message)


class CredentialsAlreadyExistError(CredentialsError):
    """An org may hold one set of credentials per provider."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        super().__init__(f"Integration credentials for provider '{provider}' already exist")


class ConcurrentModificationError(CredentialsError):
    """A conditional write kept losing to other writers."""


class InvalidRequestError(CredentialsError):
    """A request the models could not reject by themselves (already phrased for the client)."""


class UnsupportedMediaTypeError(CredentialsError):
    """A request body that is not JSON."""


class PayloadTooLargeError(CredentialsError):
    """The request body is over the documented limit."""


class DependencyError(CredentialsError):
    """DynamoDB, KMS or SSM failed: the request is failed whole, nothing written.
    `aws.dependency_error` tells the two kinds below apart by the AWS error code."""

    def __init__(self, dependency: str, code: str) -> None:
        self.dependency = dependency
        self.code = code
        super().__init__(f"{dependency} failed ({code})")


class DependencyUnavailableError(DependencyError):
    """Throttled, a 5xx, a timeout, a transaction that kept conflicting: retrying can succeed,
    after `retry_after` seconds when the service knows how long (else the table's default)."""

    def __init__(self, dependency: str, code: str, retry_after: int | None = None) -> None:
        super().__init__(dependency, code)
        self.retry_after = retry_after


class DependencyMisconfiguredError(DependencyError):
    """Denied, a missing table, key or parameter, a disabled key, a request the service refused:
    the deployment is wrong, and retrying cannot help until an operator fixes it."""


class CredentialsIntegrityError(CredentialsError):
    """A stored row cannot be read back: its ciphertext does not decrypt, belongs to another row,
    or holds a value that is not strict JSON."""

    def __init__(self, reason: str, credentials_id: str | None = None) -> None:
        self.credentials_id = credentials_id
        super().__init__(reason)


class PreconditionFailedError(CredentialsError):
    """`If-Match` named a version the credentials no longer have."""

    def __init__(self, current_etag: str | None) -> None:
        self.current_etag = current_etag
        super().__init__(
            "Precondition failed: the credentials were modified since the ETag given in If-Match"
        )


class IdempotencyConflictError(CredentialsError):
    """An Idempotency-Key reused with another body, or whose first request is still running.

    `in_progress` is true only for the latter: waiting can help there, and nowhere else."""

    def __init__(self, message: str, *, in_progress: bool = False) -> None:
        self.in_progress = in_progress
        super().__init__(message)


class NotRefreshableError(CredentialsError):
    """The credentials' provider has no refresh client, or their metadata has no refresh_token.
    `verified_by_schedule`: the scheduler verifies them instead (`policy.schedule`)."""

    def __init__(self, credentials_id: str, reason: str, *, verified_by_schedule: bool = False) -> None:
        self.credentials_id = credentials_id
        self.reason = reason
        self.verified_by_schedule = verified_by_schedule
        super().__init__(f"Integration credentials {credentials_id} cannot be refreshed: {reason}")


class ReauthorizationRequiredError(CredentialsError):
    """The provider refused the stored grant for good: someone has to reconnect the CRM."""

    def __init__(self, credentials_id: str, code: str) -> None:
        self.credentials_id = credentials_id
        self.code = code
        super().__init__(
            f"Integration credentials {credentials_id} need re-authorization ({code}): "
            "store new tokens with PUT"
        )


class RefreshInProgressError(CredentialsError):
    """Another refresh of the same credentials is still running past the wait."""

    def __init__(self, credentials_id: str) -> None:
        self.credentials_id = credentials_id
        super().__init__(f"A token refresh of integration credentials {credentials_id} is in progress; retry")


class ProviderUnavailableError(CredentialsError):
    """The provider's token endpoint failed transiently (5xx, 429, timeout): retry later."""

    def __init__(self, provider: str, code: str, retry_after: int) -> None:
        self.provider = provider
        self.code = code
        self.retry_after = retry_after
        super().__init__(f"The {provider} token endpoint is unavailable ({code}); retry later")


class ProviderRejectedError(CredentialsError):
    """The provider refused the refresh request for a reason the stored grant does not explain
    (for example the OAuth client's id or secret): an operator has to fix the configuration."""

    def __init__(self, provider: str, code: str) -> None:
        self.provider = provider
        self.code = code
        super().__init__(f"The {provider} token endpoint rejected the refresh request ({code})")


class RefreshDeferredError(CredentialsError):
    """Too little time is left in this invocation to call the provider and store what it issues:
    the refresh is not started (a rotated refresh token must never be issued and then lost)."""

    def __init__(self, credentials_id: str) -> None:
        self.credentials_id = credentials_id
        super().__init__(
            f"Not enough time left to refresh integration credentials {credentials_id} safely; retry"
        )


class TooManyCredentialsError(CredentialsError):
    """The org already holds MAX_CREDENTIALS_PER_ORG credentials."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"The organization already holds the maximum of {limit} integration credentials; "
            "delete some before storing more"
        )


class InvalidConnectStateError(CredentialsError):
    """The OAuth callback's `state` is missing, unknown, expired or already used: its return URL
    cannot be trusted, so the browser is answered here instead of sent back."""

    def __init__(self) -> None:
        super().__init__(
            "Unknown, expired or already used OAuth state: start the connection again "
            "(POST /integration-credentials/connect)"
        )


class TooManyConnectStatesError(CredentialsError):
    """The org already has MAX_CONNECT_STATES_PER_ORG connect links that are neither used nor
    expired: no more until one is (`retry_after` seconds at most, when the earliest expires)."""

    def __init__(self, limit: int, retry_after: int) -> None:
        self.limit = limit
        self.retry_after = retry_after
        super().__init__(
            f"The organization already has the maximum of {limit} connect links in progress; "
            "retry when one is used or expires"
        )


class NotVerifiableError(CredentialsError):
    """The credentials' provider has no identity call to verify them against."""

    def __init__(self, credentials_id: str, reason: str) -> None:
        self.credentials_id = credentials_id
        self.reason = reason
        super().__init__(f"Integration credentials {credentials_id} cannot be verified: {reason}")


class CrmRejectedCredentialsError(CredentialsError):
    """A create with `?verify=true`: the CRM refused the token (401/403 to its identity call).
    `code` and `message` are the provider error's, which never carry a token."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"The CRM rejected these credentials: {code}" + (f": {message}" if message else ""))


class CrmUnavailableError(CredentialsError):
    """A create with `?verify=true`: the CRM's identity call failed transiently (5xx, 429, a
    timeout); nothing was stored, retry after `retry_after` seconds."""

    def __init__(self, provider: str, code: str, retry_after: int) -> None:
        self.provider = provider
        self.code = code
        self.retry_after = retry_after
        super().__init__(
            f"The {provider} API is unavailable ({code}): the credentials were not verified "
            "nor stored; retry later"
        )


class CrmIdentityError(CredentialsError):
    """A create with `?verify=true`: the CRM answered its identity call with something that names
    no account (or the identity call cannot be made, for example without an OAuth client)."""

    def __init__(self, provider: str, code: str) -> None:
        self.provider = provider
        self.code = code
        super().__init__(
            f"The {provider} API did not say which account these credentials belong to ({code}); "
            "nothing was stored"
        )


class AccountMismatchError(CredentialsError):
    """A reconnect's new tokens belong to another CRM account than the one the credentials are
    pinned to, and the reconnect did not say `allow_account_change`: nothing is stored."""

    def __init__(self, credentials_id: str, stored_account_id: str, new_account_id: str) -> None:
        self.credentials_id = credentials_id
        self.stored_account_id = stored_account_id
        self.new_account_id = new_account_id
        super().__init__(
            f"Integration credentials {credentials_id} belong to another CRM account than the new "
            "tokens; reconnect with allow_account_change to move them"
        )


class AccountUnverifiedError(CredentialsError):
    """The CRM account of new tokens could not be read (the CRM did not answer), so a reconnect of
    credentials pinned to an account cannot be checked: nothing is stored, retrying may help."""

    def __init__(self, credentials_id: str) -> None:
        self.credentials_id = credentials_id
        super().__init__(
            f"The CRM account of the new tokens for integration credentials {credentials_id} could "
            "not be checked; retry the reconnect later"
        )
