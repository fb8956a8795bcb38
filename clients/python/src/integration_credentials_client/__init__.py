"""Client of the integration-credentials service: `Client`, `AsyncClient`, and `CrmAuth`, which
keeps a sync job's CRM requests authenticated (it refreshes the token once when the CRM answers 401)."""

from .async_client import AsyncClient
from .auth import CrmAuth
from .client import Client
from .errors import (
    ApiError,
    BadGateway,
    BadRequest,
    Conflict,
    ConnectionFailed,
    Forbidden,
    IntegrationCredentialsError,
    NotFound,
    NotRefreshable,
    PayloadTooLarge,
    PreconditionFailed,
    ReauthorizationRequired,
    ReconnectRequired,
    ServerError,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
    UnsupportedMediaType,
)
from .models import ConnectStarted, Credentials
from .retry import RetryPolicy

__all__ = [
    "ApiError",
    "AsyncClient",
    "BadGateway",
    "BadRequest",
    "Client",
    "Conflict",
    "ConnectStarted",
    "ConnectionFailed",
    "Credentials",
    "CrmAuth",
    "Forbidden",
    "IntegrationCredentialsError",
    "NotFound",
    "NotRefreshable",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ReauthorizationRequired",
    "ReconnectRequired",
    "RetryPolicy",
    "ServerError",
    "ServiceUnavailable",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]
