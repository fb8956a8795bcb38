"""The provider half of the OAuth authorization-code ("connect") flow.

`authorize_url` builds the URL to send the user's browser to; `exchange_code` trades the code the
callback brings for tokens through the refresh flow's `request_token`, so the answer is parsed and
classified exactly as a refresh's (a refused or expired code is a PermanentRefreshError with
`reconnect_required`: the user has to connect again). PKCE uses S256 only, and only where the
provider documents it (`supports_pkce`); elsewhere a challenge or verifier is not sent.
"""

import base64
import dataclasses
import hashlib
import re
import secrets
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from ._base import Authorization, https_host
from ._refresh import TOKEN_URL_ENV_PREFIX, env_name, overridden, provider_spec, request_token
from .errors import PermanentRefreshError
from .models import OAuthClient, TokenRefresh

AUTHORIZE_URL_ENV_PREFIX = "OAUTH_AUTHORIZE_URL_"
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 section 4.1
_S256_CHALLENGE = re.compile(r"^[A-Za-z0-9_-]{43}$")  # base64url of 32 bytes, unpadded


def authorize_url_env_name(provider: str) -> str:
    """`OAUTH_AUTHORIZE_URL_<PROVIDER>`: overrides the provider's authorize endpoint (fakes, staging)."""
    return env_name(AUTHORIZE_URL_ENV_PREFIX, provider)


def supports_pkce(provider: str) -> bool:
    """Whether `provider` documents PKCE for a web app: a code_challenge is worth making."""
    return provider_spec(provider, "connect flow").authorization.pkce


def new_code_verifier() -> str:
    """A fresh PKCE code_verifier: 64 random bytes, base64url (86 characters)."""
    return secrets.token_urlsafe(64)


def s256_challenge(code_verifier: str) -> str:
    """The S256 code_challenge of `code_verifier`: BASE64URL(SHA256(verifier)), unpadded."""
    if not _VERIFIER.match(code_verifier):
        raise ValueError("code_verifier must be 43 to 128 unreserved characters (RFC 7636)")
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorize_url(
    provider: str,
    client_id: str,
    redirect_uri: str,
    state: str,
    *,
    scopes: Sequence[str] | None = None,
    optional_scopes: Sequence[str] | None = None,
    code_challenge: str | None = None,
    metadata: Mapping[str, Any] | None = None,
    authorize_url: str | None = None,
) -> str:
    """The provider's authorize URL for the user's browser.

    `scopes` replaces the provider's default scopes (its module's `DEFAULT_SCOPES`);
    `optional_scopes` is HubSpot's `optional_scope`. `code_challenge` is an S256 challenge (see
    `s256_challenge()`), sent only where `supports_pkce(provider)`. `metadata` may name the
    Salesforce `login_url` (login.salesforce.com, test.salesforce.com or a My Domain), the Zoho
    `data_center`, the Dynamics `tenant_id` and `instance_url`. `authorize_url` (else the
    environment variable `OAUTH_AUTHORIZE_URL_<PROVIDER>`) replaces the endpoint.
    Raises ValueError for a malformed argument, PermanentRefreshError (not a reconnect) for an
    unknown provider or unusable metadata.
    """
    spec = provider_spec(provider, "connect flow")
    authorization = spec.authorization
    metadata = metadata or {}
    for name, value in (("client_id", client_id), ("redirect_uri", redirect_uri), ("state", state)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string")
    params = dict(authorization.params)
    params.update(client_id=client_id, redirect_uri=redirect_uri)
    scope = _joined(authorization, scopes, metadata)
    if scope is not None:
        params["scope"] = scope
    if optional_scopes:
        if authorization.optional_scope is None:
            raise ValueError(f"{provider} has no optional scopes")
        params[authorization.optional_scope] = _join(authorization, optional_scopes)
    params["state"] = state
    if code_challenge is not None and authorization.pkce:
        if not _S256_CHALLENGE.match(code_challenge):
            raise ValueError("code_challenge must be an S256 challenge (43 base64url characters)")
        params.update(code_challenge=code_challenge, code_challenge_method="S256")
    # The metadata's endpoint is worked out even when overridden: its hints are checked alike.
    default_endpoint = authorization.endpoint(metadata)
    endpoint = overridden(authorize_url, AUTHORIZE_URL_ENV_PREFIX, provider)
    if endpoint is None:
        endpoint = default_endpoint
    elif urllib.parse.urlsplit(endpoint).scheme.lower() not in ("https", "http"):
        raise ValueError("authorize URL must be http or https")
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"


def exchange_code(
    provider: str,
    code: str,
    client: OAuthClient,
    redirect_uri: str,
    *,
    code_verifier: str | None = None,
    scopes: Sequence[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    token_url: str | None = None,
    timeout: float = 10,
    accounts_server: str | None = None,
) -> TokenRefresh:
    """Trade the callback's authorization `code` for tokens.

    `redirect_uri` is the same string the authorize URL carried. `code_verifier` is the PKCE
    verifier whose challenge it carried (sent only where `supports_pkce(provider)`); `scopes` the
    scopes it asked for, if not the default (repeated at the exchange only by Microsoft).
    `accounts_server` is Zoho's callback parameter `accounts-server`, refused unless it is a Zoho
    accounts server; the result's `metadata_updates` then names it as `accounts_server` for
    refresh. `token_url` (else `OAUTH_TOKEN_URL_<PROVIDER>`) replaces the endpoint, after the
    metadata and `accounts_server` have been checked.
    Raises PermanentRefreshError or TransientRefreshError, as refresh does; neither ever carries
    the code, the verifier, a token or the client secret.
    """
    spec = provider_spec(provider, "connect flow")
    authorization = spec.authorization
    metadata = dict(metadata or {})
    if not isinstance(code, str) or not code.strip():
        raise PermanentRefreshError("missing_code", "the callback has no authorization code")
    if not isinstance(redirect_uri, str) or not redirect_uri.strip():
        raise ValueError("redirect_uri must be a non-empty string")
    if accounts_server is not None:
        if authorization.callback_server is None:
            raise ValueError(f"{provider} takes no accounts server")
        if not accounts_server.strip():
            raise PermanentRefreshError("invalid_accounts_server", "the callback's accounts server is blank")
        metadata[authorization.callback_server] = accounts_server
    grant = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier is not None and authorization.pkce:
        s256_challenge(code_verifier)  # refuses a verifier the provider would refuse
        grant["code_verifier"] = code_verifier
    if authorization.scope_at_exchange:
        grant["scope"] = _joined(authorization, scopes, metadata) or ""
    default_url = (spec.exchange_token_url or spec.default_token_url)(metadata, None)
    url = overridden(token_url, TOKEN_URL_ENV_PREFIX, provider) or default_url
    result = request_token(spec, url, metadata, client, grant, dsn=None, timeout=timeout)
    if accounts_server is not None and authorization.callback_server is not None:
        server = f"https://{https_host(default_url)}"
        updates = {**result.metadata_updates, authorization.callback_server: server}
        return dataclasses.replace(result, metadata_updates=updates)
    return result


def _joined(
    authorization: Authorization, scopes: Sequence[str] | None, metadata: Mapping[str, Any]
) -> str | None:
    if authorization.scope_separator is None:
        if scopes:
            raise ValueError("this provider takes no scope parameter: its app registration sets the scopes")
        return None
    return _join(authorization, scopes if scopes else authorization.default_scopes(metadata))


def _join(authorization: Authorization, scopes: Sequence[str]) -> str:
    if isinstance(scopes, str):
        scopes = (scopes,)
    if not all(isinstance(scope, str) and scope.strip() for scope in scopes):
        raise ValueError("scopes must be non-empty strings")
    return (authorization.scope_separator or " ").join(scope.strip() for scope in scopes)
