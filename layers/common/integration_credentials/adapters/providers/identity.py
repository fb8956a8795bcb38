"""Which CRM account a token belongs to (the CRM's own identity call), and revoking a grant.

INTERFACE ONLY: the provider calls are being built (issue 24); until then both raise
PermanentRefreshError("unsupported_provider"). The signatures and errors below are the contract
the logic layer codes against.

`identify(provider, metadata, access_token, ...)` calls the provider's cheapest documented
authenticated call with the credential's own token and returns the `Account`. Raises
TokenRejectedError (401/403: the token is not valid now), TransientRefreshError (5xx, 429,
timeouts: says nothing about the grant) or PermanentRefreshError (reconnect_required=False: a
provider without an identity call, or an answer that names no account).

`revoke(provider, metadata, token, ...)` revokes the grant at the provider's documented revocation
endpoint (the refresh token where there is one, else the access token). Raises
TransientRefreshError (retry) or PermanentRefreshError (retrying cannot help).

`CRM_API_URL_<PROVIDER>` replaces the base URL of the identity call (the documented path is
appended); `OAUTH_REVOKE_URL_<PROVIDER>` replaces the revocation endpoint's whole URL.
"""

from collections.abc import Mapping
from typing import Any, Literal

from ...core import constants
from ...core.models import Account
from ._refresh import env_name, provider_spec
from .errors import PermanentRefreshError
from .models import OAuthClient

CRM_API_URL_ENV_PREFIX = "CRM_API_URL_"
REVOKE_URL_ENV_PREFIX = "OAUTH_REVOKE_URL_"
# Providers with an identity call; Dynamics (Entra ID) has none for revocation.
IDENTIFIABLE_PROVIDERS: frozenset[str] = frozenset({"salesforce", "hubspot", "pipedrive", "zoho", "dynamics"})
REVOCABLE_PROVIDERS: frozenset[str] = constants.REVOCABLE_PROVIDERS

TokenKind = Literal["refresh_token", "access_token"]


def crm_api_url_env_name(provider: str) -> str:
    """`CRM_API_URL_<PROVIDER>`: overrides the base URL of the provider's identity call."""
    return env_name(CRM_API_URL_ENV_PREFIX, provider)


def revoke_url_env_name(provider: str) -> str:
    """`OAUTH_REVOKE_URL_<PROVIDER>`: overrides the provider's revocation endpoint."""
    return env_name(REVOKE_URL_ENV_PREFIX, provider)


def identify(
    provider: str,
    metadata: Mapping[str, Any],
    access_token: str,
    *,
    client: OAuthClient | None = None,
    dsn: str | None = None,
    api_url: str | None = None,
    timeout: float = 10,
) -> Account:
    """The CRM account `access_token` belongs to (see the module's docstring)."""
    provider_spec(provider, "identity call")
    raise PermanentRefreshError(
        "unsupported_provider", "identity calls are not built yet", reconnect_required=False
    )


def revoke(
    provider: str,
    metadata: Mapping[str, Any],
    token: str,
    *,
    token_kind: TokenKind,
    client: OAuthClient | None = None,
    dsn: str | None = None,
    revoke_url: str | None = None,
    timeout: float = 10,
) -> None:
    """Revoke `token` (a refresh token, else an access token) at the provider."""
    provider_spec(provider, "revocation")
    raise PermanentRefreshError(
        "unsupported_provider", "revocation is not built yet", reconnect_required=False
    )
