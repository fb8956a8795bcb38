"""Which OAuth app refreshes a credential: its own, or the provider's from the secret store."""

import json
from collections.abc import Mapping
from typing import Any

from ..adapters.parameters import secure_parameter
from ..adapters.providers import OAuthClient, PermanentRefreshError
from ..core.errors import DependencyError
from ..core.settings import Settings


def oauth_client(provider: str, metadata: Mapping[str, Any], settings: Settings) -> OAuthClient:
    """The OAuth app to refresh with: the credential's own (`client_id` + `client_secret` in its
    encrypted metadata), else the provider's from the secret store (an SSM SecureString named
    OAUTH_CLIENT_PARAMETER_PREFIX + provider, JSON {"client_id", "client_secret"})."""
    client_id, client_secret = metadata.get("client_id"), metadata.get("client_secret")
    if isinstance(client_id, str) and client_id.strip() and isinstance(client_secret, str) and client_secret:
        return OAuthClient(client_id.strip(), client_secret)
    prefix = settings.oauth_client_parameter_prefix
    not_configured = PermanentRefreshError(
        "oauth_client_not_configured",
        f"no OAuth client configured for provider '{provider}'",
        reconnect_required=False,
    )
    if not prefix:
        raise not_configured
    try:
        raw = secure_parameter(prefix + provider, settings.oauth_client_cache_seconds)
    except DependencyError as error:
        if error.code == "ParameterNotFound":
            raise not_configured from None
        raise
    try:
        document = json.loads(raw)
        configured = OAuthClient(str(document["client_id"]), str(document["client_secret"]))
    except (ValueError, KeyError, TypeError):
        raise PermanentRefreshError(
            "oauth_client_invalid",
            f"the OAuth client parameter of provider '{provider}' is not JSON with "
            "client_id and client_secret",
            reconnect_required=False,
        ) from None
    if not configured.client_id or not configured.client_secret:
        raise not_configured
    return configured
