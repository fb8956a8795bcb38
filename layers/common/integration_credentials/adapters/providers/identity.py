"""Which CRM account a token belongs to (the CRM's own identity call), and revoking a grant.

`identify(provider, metadata, access_token, ...)` calls the provider's documented identity call
with the credential's own token (each provider module's `IDENTITY`) and returns the `Account`
(`id` always a string). Raises TokenRejectedError (401/403: the token is not valid now),
TransientRefreshError (5xx, 429, 408, timeouts: says nothing about the grant) or
PermanentRefreshError (reconnect_required=False: a provider without an identity call, metadata
that names no usable API host, a refusal for another reason than the token, or an answer that
names no account).

`revoke(provider, metadata, token, ...)` revokes the grant at the provider's documented revocation
endpoint (each provider module's `REVOCATION`; the refresh token where there is one, else the
access token). A token the provider already holds invalid counts as revoked (it returns): the
grant no longer works, which is all a revocation is for. Raises TransientRefreshError (retry) or
PermanentRefreshError (retrying cannot help: no revocation at this provider (Dynamics), a token
that is not an OAuth grant's, or a refusal such as a wrong client secret).

`CRM_API_URL_<PROVIDER>` (or `api_url`) replaces the base URL of the identity call, the documented
path appended to it; `OAUTH_REVOKE_URL_<PROVIDER>` (or `revoke_url`) replaces the revocation
endpoint's whole URL (Zoho's token still goes in its `token` query parameter). Neither the token
nor the client secret ever appears in an error.
"""

from collections.abc import Mapping
from typing import Any, Literal

from ...core import constants
from ...core.models import Account
from . import dynamics, hubspot, pipedrive, salesforce, zoho
from ._base import IdentityCall, Revocation
from ._http import TokenResponse, error_fields, post, redact, safe_code
from ._refresh import env_name, overridden, provider_spec
from .errors import PermanentRefreshError, TokenRejectedError, TransientRefreshError
from .models import OAuthClient

CRM_API_URL_ENV_PREFIX = "CRM_API_URL_"
REVOKE_URL_ENV_PREFIX = "OAUTH_REVOKE_URL_"
_IDENTITY: dict[str, IdentityCall] = {
    "salesforce": salesforce.IDENTITY,
    "hubspot": hubspot.IDENTITY,
    "pipedrive": pipedrive.IDENTITY,
    "zoho": zoho.IDENTITY,
    "dynamics": dynamics.IDENTITY,
}
# Dynamics (Microsoft Entra ID) has no per-token revocation.
_REVOCATION: dict[str, Revocation] = {
    "salesforce": salesforce.REVOCATION,
    "hubspot": hubspot.REVOCATION,
    "pipedrive": pipedrive.REVOCATION,
    "zoho": zoho.REVOCATION,
}
IDENTIFIABLE_PROVIDERS: frozenset[str] = frozenset(_IDENTITY)
REVOCABLE_PROVIDERS: frozenset[str] = constants.REVOCABLE_PROVIDERS

TokenKind = Literal["refresh_token", "access_token"]
_TOKEN_KINDS = ("refresh_token", "access_token")


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
    """The CRM account `access_token` belongs to (see the module's docstring). `client` is the
    platform's OAuth client, which HubSpot's token introspection needs."""
    provider_spec(provider, "identity call")
    call = _IDENTITY.get(provider)
    if call is None:
        raise PermanentRefreshError(
            "unsupported_provider", "this provider has no identity call", reconnect_required=False
        )
    if not isinstance(access_token, str) or not access_token.strip():
        raise PermanentRefreshError(
            "missing_access_token", "there is no token to check", reconnect_required=False
        )
    if not _sendable(access_token):
        # Several identity calls carry the token in a header, which holds visible ASCII only
        # (RFC 6750's b64token): no CRM issued such a token, and none would accept it.
        raise TokenRejectedError("invalid_token", "the token holds characters no CRM token has")
    base = overridden(api_url, CRM_API_URL_ENV_PREFIX, provider)
    base = base.rstrip("/") if base else call.default_base(metadata, dsn)
    response = post(call.build(base, metadata, access_token, client), timeout)
    return read_identity(call, response, _secrets(access_token, client))


def _sendable(token: str) -> bool:
    """Whether `token` is visible ASCII (RFC 6750 b64token and every CRM's tokens), so that it can
    go in an Authorization or x-api-token header."""
    return all("!" <= character <= "~" for character in token)


def read_identity(call: IdentityCall, response: TokenResponse, secrets: tuple[str, ...]) -> Account:
    """The Account an identity answer names, or the error it amounts to (messages redacted)."""
    status, body = response.status, response.body
    code, message = _code_and_message(response, secrets, "identity endpoint")
    if 200 <= status < 300:
        if body is None:
            raise PermanentRefreshError(
                "invalid_response", "the identity answer is not a JSON object", reconnect_required=False
            )
        account = call.account(body)
        if account is None:
            raise PermanentRefreshError(
                "invalid_response", "the identity answer names no account", reconnect_required=False
            )
        return account
    if status in (401, 403):
        if call.not_a_rejection(status, body):
            raise PermanentRefreshError(code, message, reconnect_required=False)
        raise TokenRejectedError(code, message)
    _raise_if_transient(status, code, message, response)
    raise PermanentRefreshError(code, message, reconnect_required=False)


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
    """Revoke `token` (a refresh token, else an access token) at the provider (see the module's
    docstring). `client` is the platform's OAuth client (HubSpot and Pipedrive authenticate it)."""
    provider_spec(provider, "revocation")
    call = _REVOCATION.get(provider)
    if call is None:
        raise PermanentRefreshError(
            "revocation_unsupported",
            "this provider has no per-token revocation (Microsoft Entra ID revokes only whole sessions)",
            reconnect_required=False,
        )
    if token_kind not in _TOKEN_KINDS:
        raise ValueError("token_kind must be refresh_token or access_token")
    if not isinstance(token, str) or not token.strip():
        raise PermanentRefreshError("missing_token", "there is no token to revoke", reconnect_required=False)
    url = overridden(revoke_url, REVOKE_URL_ENV_PREFIX, provider) or call.default_url(metadata, dsn)
    response = post(call.build(url, metadata, token, token_kind, client), timeout)
    read_revocation(call, response, _secrets(token, client))


def read_revocation(call: Revocation, response: TokenResponse, secrets: tuple[str, ...]) -> None:
    """Return when the answer says the token is revoked (or was already invalid); else raise."""
    status, body = response.status, response.body
    code, message = _code_and_message(response, secrets, "revocation endpoint")
    # Zoho answers some errors with HTTP 200 and an `error` member.
    refused_in_body = body is not None and body.get("error") not in (None, "")
    if 200 <= status < 300 and not refused_in_body:
        return
    if call.already_invalid(status, code):
        return
    _raise_if_transient(status, code, message, response)
    raise PermanentRefreshError(code, message, reconnect_required=False)


def _secrets(token: str, client: OAuthClient | None) -> tuple[str, ...]:
    return (token, client.client_secret if client is not None else "")


def _code_and_message(response: TokenResponse, secrets: tuple[str, ...], endpoint: str) -> tuple[str, str]:
    raw_code, description = error_fields(response.body)
    body = response.body
    if body is not None and body.get("status") == "error" and body.get("code"):
        raw_code = body["code"]  # Zoho's API errors: `status` is just "error", `code` says which
    code = safe_code(raw_code, f"http_{response.status}")
    return code, redact(description, secrets) or f"{endpoint} answered HTTP {response.status}"


def _raise_if_transient(status: int, code: str, message: str, response: TokenResponse) -> None:
    if status == 429:
        raise TransientRefreshError(
            "rate_limited" if code.startswith("http_") else code, message, response.retry_after
        )
    if status >= 500 or status == 408:
        raise TransientRefreshError(code, message, response.retry_after)
