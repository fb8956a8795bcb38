"""What each provider module supplies to the shared token flow (refresh and code exchange), to
the authorization (connect) step, and to the identity and revocation calls (`identity`)."""

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ...core.models import Account
from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

Outcome = Literal["reconnect", "transient"]


@dataclass(frozen=True, slots=True)
class Authorization:
    """One provider's authorize endpoint (GET, in the user's browser) and its parameters.

    `endpoint(metadata)` is the default authorize URL; `default_scopes(metadata)` the scopes asked
    for when the caller names none. `scope_separator` joins them (None: the provider takes no
    scope parameter, the app's registration sets them); `optional_scope` names the parameter of
    scopes the user may decline (HubSpot). `params` are sent as they are (`response_type=code`
    for every provider: RFC 6749 requires it and none forbids it). `pkce` is true where the
    provider accepts PKCE from a confidential web app (S256 challenge at authorize, verifier at
    exchange); `scope_at_exchange` where the code exchange repeats the scope (Microsoft).
    `callback_server` is the metadata key that the callback's server parameter fills, where the
    callback names the server to exchange the code at (Zoho's `accounts-server`).
    """

    endpoint: Callable[[Mapping[str, Any]], str]
    default_scopes: Callable[[Mapping[str, Any]], tuple[str, ...]]
    scope_separator: str | None = " "
    optional_scope: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    pkce: bool = False
    scope_at_exchange: bool = False
    callback_server: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider's token endpoint, request shape, response fields and failure codes.

    `build_request(url, metadata, client, grant, dsn)` adds the client's credentials (and whatever
    else the provider wants) to `grant`, the grant's own parameters (`grant_type` and the refresh
    token, or the code and its redirect_uri). `classify(status, code, description)` returns the
    outcome of an error response and the code to report, or None for the default (a permanent
    error that does not need a reconnect). `exchange_token_url(metadata, dsn)` is the code
    exchange's endpoint where it is not `default_token_url`'s.
    """

    name: str
    default_token_url: Callable[[Mapping[str, Any], str | None], str]
    build_request: Callable[
        [str, Mapping[str, Any], OAuthClient, Mapping[str, str], str | None], TokenRequest
    ]
    metadata_updates: Callable[[Mapping[str, Any]], dict[str, Any]]
    classify: Callable[[int, str, str], tuple[Outcome, str] | None]
    authorization: Authorization
    exchange_token_url: Callable[[Mapping[str, Any], str | None], str] | None = None


@dataclass(frozen=True, slots=True)
class IdentityCall:
    """One provider's identity call ("which account does this token belong to").

    `default_base(metadata, dsn)` is the base URL the documented path is appended to
    (`CRM_API_URL_<PROVIDER>` replaces it); `build(base, metadata, token, client)` the request;
    `account(body)` reads a 2xx JSON answer: the Account, or None when it names none (it raises
    TokenRejectedError where a 200 says the token is not active). `not_a_rejection(status, body)`
    is true for a 401/403 that refuses the call for another reason than the token (a missing
    scope), which a reconnect with the same scopes would not cure.
    """

    default_base: Callable[[Mapping[str, Any], str | None], str]
    build: Callable[[str, Mapping[str, Any], str, OAuthClient | None], TokenRequest]
    account: Callable[[Mapping[str, Any]], Account | None]
    not_a_rejection: Callable[[int, Mapping[str, Any] | None], bool] = lambda status, body: False


@dataclass(frozen=True, slots=True)
class Revocation:
    """One provider's revocation endpoint.

    `default_url(metadata, dsn)` is the endpoint (`OAUTH_REVOKE_URL_<PROVIDER>` replaces it);
    `build(url, metadata, token, token_kind, client)` the request; `already_invalid(status, code)`
    is true for the answer the provider gives a token that is already invalid (revoked, expired or
    never issued), which counts as revoked: the grant no longer works, which is what revoking wants.
    """

    default_url: Callable[[Mapping[str, Any], str | None], str]
    build: Callable[[str, Mapping[str, Any], str, str, OAuthClient | None], TokenRequest]
    already_invalid: Callable[[int, str], bool]


def bearer(url: str, token: str, **headers: str) -> TokenRequest:
    """An identity call: GET `url` with the token as a bearer token."""
    return TokenRequest(
        url=url,
        method="GET",
        headers={"Authorization": f"Bearer {token}", **headers},
        endpoint="identity endpoint",
    )


def needs_client(client: OAuthClient | None, flow: str) -> OAuthClient:
    """`client`, or a PermanentRefreshError (an operator's to fix) when the call needs one."""
    if client is None:
        raise PermanentRefreshError(
            "missing_client", f"the {flow} needs the OAuth client", reconnect_required=False
        )
    return client


def not_identifiable(code: str, message: str) -> PermanentRefreshError:
    """The stored metadata cannot name where the identity call goes: no reconnect implied."""
    return PermanentRefreshError(code, message, reconnect_required=False)


# An account id, name or user as stored and shown: a short single-line UTF-8 string.
MAX_ACCOUNT_FIELD_CHARS = 255


def account_field(value: object) -> str | None:
    """A number (HubSpot's hub_id, Pipedrive's company_id) as its decimal string, a non-blank
    string stripped; None for anything else, a boolean, or a string too long or not storable."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > MAX_ACCOUNT_FIELD_CHARS or not is_utf8(text) or not text.isprintable():
        return None
    return text


def account_of(account_id: object, name: object = None, user: object = None) -> Account | None:
    """The Account, or None when `account_id` is not a usable id."""
    identifier = account_field(account_id)
    if identifier is None:
        return None
    return Account(identifier, name=account_field(name), user=account_field(user))


def fixed_token_url(url: str) -> Callable[[Mapping[str, Any], str | None], str]:
    """`default_token_url` of a provider with one global token endpoint."""

    def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
        return url

    return default_token_url


def fixed_scopes(*scopes: str) -> Callable[[Mapping[str, Any]], tuple[str, ...]]:
    """`default_scopes` of a provider whose default scopes do not depend on the metadata."""

    def default_scopes(metadata: Mapping[str, Any]) -> tuple[str, ...]:
        return scopes

    return default_scopes


def with_client(client: OAuthClient, grant: Mapping[str, str]) -> dict[str, str]:
    """The grant with the client's credentials in the parameters (RFC 6749 sections 2.3.1, 4.1.3
    and 6): Salesforce, HubSpot, Zoho and Dynamics send them in the form body."""
    return {**grant, "client_id": client.client_id, "client_secret": client.client_secret}


def client_form(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, grant: Mapping[str, str], dsn: str | None
) -> TokenRequest:
    """`build_request` of a provider that takes the grant and the client's credentials as one form
    body (Salesforce, HubSpot, Zoho)."""
    return TokenRequest(url=url, form=with_client(client, grant))


def string_field(metadata: Mapping[str, Any], *keys: str) -> str | None:
    """The first of `keys` holding a non-blank string, stripped."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def https_host(value: str | None) -> str | None:
    """The lowercase host of an https URL (a bare host name is read as https), else None."""
    if not value:
        return None
    if "://" not in value:
        value = f"https://{value}"
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    # Any user info, even empty (`https://@host`), is refused: such a URL is never a plain host's.
    if parts.scheme.lower() != "https" or not host or parts.username is not None:
        return None
    if port not in (None, 443):
        return None
    return host.lower()


def is_utf8(text: str) -> bool:
    """False for a string with a lone surrogate ("\\ud800" in JSON): it could not be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def copy_strings(body: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The response fields among `keys` that are non-empty UTF-8 strings."""
    return {
        key: body[key] for key in keys if isinstance(body.get(key), str) and body[key] and is_utf8(body[key])
    }


def missing(code: str, message: str) -> PermanentRefreshError:
    """Stored metadata lacks something the refresh needs: someone has to reconnect."""
    return PermanentRefreshError(code, message, reconnect_required=True)
