"""Domain errors. `api.py` maps each to one HTTP status; nothing else knows about HTTP."""


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


class DependencyUnavailableError(CredentialsError):
    """DynamoDB, KMS or SSM failed, throttled or denied: the request is failed whole."""

    def __init__(self, dependency: str, code: str) -> None:
        self.dependency = dependency
        self.code = code
        super().__init__(f"{dependency} unavailable ({code})")


class CredentialsIntegrityError(CredentialsError):
    """A stored ciphertext does not belong to the row it was read from."""


class PreconditionFailedError(CredentialsError):
    """`If-Match` named a version the credentials no longer have."""

    def __init__(self, current_etag: str | None) -> None:
        self.current_etag = current_etag
        super().__init__(
            "Precondition failed: the credentials were modified since the ETag given in If-Match"
        )


class IdempotencyConflictError(CredentialsError):
    """An Idempotency-Key reused with another body, or whose first request is still running."""
