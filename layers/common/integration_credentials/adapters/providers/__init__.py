"""OAuth for the CRMs: the authorization-code ("connect") flow and token refresh (standard library
HTTP only).

`authorize_url(provider, client_id, redirect_uri, state, ...)` is the URL to send the user's
browser to (with an S256 `code_challenge` where `supports_pkce(provider)`); `exchange_code(provider,
code, client, redirect_uri, ...)` trades the callback's code for a `TokenRefresh`.
`refresh(provider, metadata, client)` posts the stored refresh token to the provider's token
endpoint and returns a `TokenRefresh`. Failures of both are `PermanentRefreshError` (reconnect or
fix configuration, do not retry) or `TransientRefreshError` (back off, honour `retry_after`).
This package logs nothing.
"""

from ._connect import (
    authorize_url,
    authorize_url_env_name,
    exchange_code,
    new_code_verifier,
    s256_challenge,
    supports_pkce,
)
from ._refresh import REFRESHABLE_PROVIDERS, refresh, token_url_env_name
from .errors import PermanentRefreshError, RefreshError, TokenRejectedError, TransientRefreshError
from .identity import (
    IDENTIFIABLE_PROVIDERS,
    REVOCABLE_PROVIDERS,
    crm_api_url_env_name,
    identify,
    revoke,
    revoke_url_env_name,
)
from .models import OAuthClient, TokenRefresh

__all__ = [
    "IDENTIFIABLE_PROVIDERS",
    "REFRESHABLE_PROVIDERS",
    "REVOCABLE_PROVIDERS",
    "OAuthClient",
    "PermanentRefreshError",
    "RefreshError",
    "TokenRefresh",
    "TokenRejectedError",
    "TransientRefreshError",
    "authorize_url",
    "authorize_url_env_name",
    "crm_api_url_env_name",
    "exchange_code",
    "identify",
    "new_code_verifier",
    "refresh",
    "revoke",
    "revoke_url_env_name",
    "s256_challenge",
    "supports_pkce",
    "token_url_env_name",
]
