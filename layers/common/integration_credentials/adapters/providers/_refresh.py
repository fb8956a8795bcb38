"""The shared token flow: resolve the endpoint, POST a grant, classify the answer. `refresh` posts
the refresh_token grant; the code exchange (`_connect.exchange_code`) posts its grant through the
same `request_token`."""

import math
import os
from collections.abc import Mapping
from typing import Any

from . import dynamics, hubspot, pipedrive, salesforce, zoho
from ._base import Provider, is_utf8, missing
from ._http import TokenResponse, error_fields, post, redact, safe_code
from .errors import PermanentRefreshError, TransientRefreshError
from .models import OAuthClient, TokenRefresh

_PROVIDERS: dict[str, Provider] = {
    module.PROVIDER.name: module.PROVIDER for module in (salesforce, hubspot, pipedrive, zoho, dynamics)
}
REFRESHABLE_PROVIDERS: frozenset[str] = frozenset(_PROVIDERS)
TOKEN_URL_ENV_PREFIX = "OAUTH_TOKEN_URL_"
# No CRM here issues access tokens for longer than a day; a bigger `expires_in` is read as a day,
# so a provider's mistake (milliseconds, say) costs an early refresh, never a stale token.
MAX_EXPIRES_IN_SECONDS = 86_400


def token_url_env_name(provider: str) -> str:
    """`OAUTH_TOKEN_URL_<PROVIDER>`: overrides the provider's endpoint (fakes, staging)."""
    return env_name(TOKEN_URL_ENV_PREFIX, provider)


def env_name(prefix: str, provider: str) -> str:
    """`prefix` and the provider's name in upper case."""
    return prefix + provider.upper().replace("-", "_")


def overridden(url: str | None, prefix: str, provider: str) -> str | None:
    """`url`, else the environment variable `prefix<PROVIDER>`, else None."""
    return url or os.environ.get(env_name(prefix, provider)) or None


def provider_spec(provider: str, flow: str) -> Provider:
    """The spec of `provider`; a PermanentRefreshError (not a reconnect) for one with no `flow`."""
    spec = _PROVIDERS.get(provider)
    if spec is None:
        raise PermanentRefreshError(
            "unsupported_provider",
            f"no {flow} for provider '{safe_code(provider, 'unknown')}'",
            reconnect_required=False,
        )
    return spec


def refresh(
    provider: str,
    metadata: Mapping[str, Any],
    client: OAuthClient,
    *,
    token_url: str | None = None,
    timeout: float = 10,
    dsn: str | None = None,
) -> TokenRefresh:
    """Exchange the refresh token stored in `metadata` for a new access token.

    `token_url` (else the environment variable `OAUTH_TOKEN_URL_<PROVIDER>`) replaces the
    provider's endpoint. `dsn` is the credential's dsn, a fallback for the org or data centre URL.
    Raises PermanentRefreshError or TransientRefreshError; neither ever carries a secret.
    """
    spec = provider_spec(provider, "token refresh")
    refresh_token = metadata.get("refresh_token")
    if not isinstance(refresh_token, str) or not refresh_token.strip():
        raise missing("missing_refresh_token", "metadata has no refresh_token")
    url = overridden(token_url, TOKEN_URL_ENV_PREFIX, provider) or spec.default_token_url(metadata, dsn)
    grant = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return request_token(spec, url, metadata, client, grant, dsn=dsn, timeout=timeout)


def request_token(
    spec: Provider,
    url: str,
    metadata: Mapping[str, Any],
    client: OAuthClient,
    grant: Mapping[str, str],
    *,
    dsn: str | None,
    timeout: float,
) -> TokenRefresh:
    """POST `grant` (with the client's credentials, as the provider wants them) to `url` and read
    the answer. The grant's values and the client secret are kept out of every error message."""
    request = spec.build_request(url, metadata, client, grant, dsn)
    response = post(request, timeout)
    secrets = (*(value for key, value in grant.items() if key != "grant_type"), client.client_secret)
    return _result(spec, response, secrets)


def _result(spec: Provider, response: TokenResponse, secrets: tuple[str, ...]) -> TokenRefresh:
    body = response.body
    status = response.status
    if 200 <= status < 300 and body is not None and body.get("error") in (None, ""):
        access_token = _field(body, "access_token")
        if isinstance(access_token, str) and access_token and is_utf8(access_token):
            return _token_refresh(spec, body, access_token)
        raise TransientRefreshError("invalid_response", "token response has no access_token")
    if body is not None:
        # A provider may echo tokens in an error body: never let them into the message.
        secrets += tuple(
            value for key in ("access_token", "refresh_token") if isinstance(value := body.get(key), str)
        )
    raw_code, description = error_fields(body)
    code = safe_code(raw_code, f"http_{status}")
    message = redact(description, secrets) or f"token endpoint answered HTTP {status}"
    if 200 <= status < 300 and body is None:
        raise TransientRefreshError("invalid_response", "token response is not a JSON object")
    if status == 429:
        raise TransientRefreshError(code if raw_code else "rate_limited", message, response.retry_after)
    if status >= 500 or status == 408:
        raise TransientRefreshError(code, message, response.retry_after)
    outcome = spec.classify(status, code, description)
    if outcome is not None:
        kind, code = outcome
        if kind == "transient":
            raise TransientRefreshError(code, message, response.retry_after)
        raise PermanentRefreshError(code, message, reconnect_required=True)
    raise PermanentRefreshError(code, message, reconnect_required=False)


def _token_refresh(spec: Provider, body: Mapping[str, Any], access_token: str) -> TokenRefresh:
    refresh_token = _field(body, "refresh_token")
    token_type = _field(body, "token_type")
    scope = body.get("scope")
    return TokenRefresh(
        access_token=access_token,
        refresh_token=refresh_token
        if isinstance(refresh_token, str) and refresh_token and is_utf8(refresh_token)
        else None,
        expires_in=_seconds(_field(body, "expires_in")),
        metadata_updates=spec.metadata_updates(body),
        token_type=token_type if isinstance(token_type, str) else None,
        scope=scope if isinstance(scope, str) else None,
    )


def _field(body: Mapping[str, Any], name: str) -> object:
    """`name` in snake case (RFC 6749), else in camel case (HubSpot's date-versioned OAuth API)."""
    if name in body:
        return body[name]
    head, *rest = name.split("_")
    return body.get(head + "".join(part.title() for part in rest))


def _seconds(value: object) -> int | None:
    """A lifetime in whole seconds, capped at MAX_EXPIRES_IN_SECONDS; None when absent, not a
    number (a string of one is read), not finite, or not positive: the usual lifetime applies."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 1:
            return None
        return int(min(value, MAX_EXPIRES_IN_SECONDS))
    return None
