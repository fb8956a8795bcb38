"""OAuth token refresh for the CRMs whose access tokens expire (standard library HTTP only).

`refresh(provider, metadata, client)` posts the stored refresh token to the provider's token
endpoint and returns a `TokenRefresh`; failures are `PermanentRefreshError` (reconnect or fix
configuration, do not retry) or `TransientRefreshError` (back off, honour `retry_after`).
This package logs nothing.
"""

from ._refresh import REFRESHABLE_PROVIDERS, refresh, token_url_env_name
from .errors import PermanentRefreshError, RefreshError, TransientRefreshError
from .models import OAuthClient, TokenRefresh

__all__ = [
    "REFRESHABLE_PROVIDERS",
    "OAuthClient",
    "PermanentRefreshError",
    "RefreshError",
    "TokenRefresh",
    "TransientRefreshError",
    "refresh",
    "token_url_env_name",
]
