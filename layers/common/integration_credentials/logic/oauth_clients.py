"""Which OAuth app refreshes a credential or starts a connect: its own, or the provider's from
SSM (the client secret only where it is used: the code exchange and refresh)."""

import json
from collections.abc import Mapping
from typing import Any

from ..adapters.parameters import parameter, secure_parameter
from ..adapters.providers import OAuthClient, PermanentRefreshError
from ..core.constants import oauth_client_id_parameter
from ..core.errors import DependencyError
from ..core.settings import Settings


def _own_client(metadata: Mapping[str, Any]) -> OAuthClient | None:
    client_id, client_secret = metadata.get("client_id"), metadata.get("client_secret")
    if isinstance(client_id, str) and client_id.strip() and isinstance(client_secret, str) and client_secret:
        return OAuthClient(client_id.strip(), client_secret)
    return None


def own_client(metadata: Mapping[str, Any]) -> OAuthClient | None:
    """The credential's own OAuth app (`client_id` + `client_secret` in its metadata), if any."""
    return _own_client(metadata)


def _not_configured(provider: str) -> PermanentRefreshError:
    return PermanentRefreshError(
        "oauth_client_not_configured",
        f"no OAuth client configured for provider '{provider}'",
        reconnect_required=False,
    )


def oauth_client_id(provider: str, metadata: Mapping[str, Any], settings: Settings) -> str:
    """The client id to put in an authorize URL: the credential's own app's (`client_id` +
    `client_secret` in its metadata, as `oauth_client` would use), else the provider's from the
    String parameter OAUTH_CLIENT_PARAMETER_PREFIX + "client-id/" + provider. Never reads the
    client secret's parameter."""
    own = _own_client(metadata)
    if own is not None:
        return own.client_id
    prefix = settings.oauth_client_parameter_prefix
    if not prefix:
        raise _not_configured(provider)
    try:
        value = parameter(oauth_client_id_parameter(prefix, provider), settings.oauth_client_cache_seconds)
    except DependencyError as error:
        if error.code == "ParameterNotFound":
            raise _not_configured(provider) from None
        raise
    client_id = value.strip()
    if not client_id or not client_id.isprintable():
        raise PermanentRefreshError(
            "oauth_client_invalid",
            f"the OAuth client id parameter of provider '{provider}' is not a client id",
            reconnect_required=False,
        )
    return client_id


def oauth_client(provider: str, metadata: Mapping[str, Any], settings: Settings) -> OAuthClient:
    """The OAuth app to refresh with: the credential's own (`client_id` + `client_secret` in its
    encrypted metadata), else the provider's from the secret store (an SSM SecureString named
    OAUTH_CLIENT_PARAMETER_PREFIX + provider, JSON {"client_id", "client_secret"})."""
    own = _own_client(metadata)
    if own is not None:
        return own
    prefix = settings.oauth_client_parameter_prefix
    not_configured = _not_configured(provider)
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
