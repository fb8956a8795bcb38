"""HubSpot: form POST to /oauth/v3/token; returns `refresh_token` and `expires_in` (30 min).

Connect: `https://app.hubspot.com/oauth/authorize` with a space-separated `scope` (required; every
scope the app's settings mark required must be in it) and `optional_scope`, `response_type=code`
(RFC 6749 requires it; HubSpot's guide does not list it and does not forbid it) and PKCE S256: the
token endpoint's reference (`/oauth/2026-03/token`) takes `code_verifier`. `DEFAULT_SCOPES` is the
quickstart guide's example, `oauth crm.objects.contacts.read`. The code exchange goes to the token
endpoint refresh uses.

Identity: an OAuth access token is introspected (`POST /oauth/2026-03/token/introspect`, form
`client_id`, `client_secret`, `token`, `token_type_hint`): the portal is `hub_id`, with
`hub_domain` and `user`; `"active": false` is a token HubSpot no longer accepts. A private-app
token (`pat-...`) belongs to one portal: `GET /account-info/2026-03/details` with it as a bearer
token names it (`portalId`). Revocation: `POST /oauth/2026-03/token/revoke`, form `client_id`,
`client_secret`, `token`, `token_type_hint` (the date-versioned successor of v1's `DELETE
/oauth/v1/refresh-tokens/{token}`, which retires on 2027-02-16); a private-app token is revoked
in the portal's settings, never through OAuth.
"""

from collections.abc import Mapping
from typing import Any

from ...core.models import Account
from ._base import (
    Authorization,
    IdentityCall,
    Outcome,
    Provider,
    Revocation,
    account_of,
    bearer,
    client_form,
    fixed_scopes,
    fixed_token_url,
    needs_client,
)
from ._http import TokenRequest
from .errors import PermanentRefreshError, TokenRejectedError
from .models import OAuthClient

TOKEN_URL = "https://api.hubapi.com/oauth/v3/token"
AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
DEFAULT_SCOPES = ("oauth", "crm.objects.contacts.read")
API_BASE = "https://api.hubapi.com"
INTROSPECT_PATH = "/oauth/2026-03/token/introspect"
ACCOUNT_DETAILS_PATH = "/account-info/2026-03/details"
REVOKE_URL = f"{API_BASE}/oauth/2026-03/token/revoke"
PRIVATE_APP_PREFIX = "pat-"
# What a revocation answers for a refresh token HubSpot no longer holds.
_ALREADY_INVALID = frozenset({"BAD_REFRESH_TOKEN", "invalid_token", "invalid_grant"})


def authorize_endpoint(metadata: Mapping[str, Any]) -> str:
    """One endpoint for every account: the user picks the account on HubSpot's consent page."""
    return AUTHORIZE_URL


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """Nothing besides the tokens."""
    return {}


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`BAD_REFRESH_TOKEN` or `BAD_AUTH_CODE` (v1 `status`), or an OAuth `invalid_grant`."""
    if code in ("BAD_REFRESH_TOKEN", "BAD_AUTH_CODE", "invalid_grant"):
        return "reconnect", code
    return None


def is_private_app_token(token: str) -> bool:
    """A private app's access token (`pat-<region>-...`): no OAuth client, one portal, no expiry."""
    return token.startswith(PRIVATE_APP_PREFIX)


def identity_base(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """One API host for every portal."""
    return API_BASE


def identity_request(
    base: str, metadata: Mapping[str, Any], token: str, client: OAuthClient | None
) -> TokenRequest:
    """Account details for a private-app token; token introspection (by the OAuth client) else."""
    if is_private_app_token(token):
        return bearer(base + ACCOUNT_DETAILS_PATH, token)
    app = needs_client(client, "token introspection")
    form = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "token": token,
        "token_type_hint": "access_token",
    }
    return TokenRequest(url=base + INTROSPECT_PATH, form=form, endpoint="identity endpoint")


def identity_account(body: Mapping[str, Any]) -> Account | None:
    """`portalId` (account details), or the introspection's `hub_id`, `hub_domain` and `user`
    (else `user_id`); camel-case names are read too. An inactive token is rejected."""
    if "portalId" in body:
        return account_of(body.get("portalId"), name=body.get("portalName"))
    if body.get("active") is False:
        raise TokenRejectedError("inactive_token", "HubSpot says the token is not active")
    hub_id = body.get("hub_id", body.get("hubId"))
    name = body.get("hub_domain", body.get("hubDomain"))
    user = body.get("user")
    if not isinstance(user, str):
        user = body.get("user_id", body.get("userId"))
    return account_of(hub_id, name=name, user=user)


def revoke_request(
    url: str, metadata: Mapping[str, Any], token: str, token_kind: str, client: OAuthClient | None
) -> TokenRequest:
    """Form `client_id`, `client_secret`, `token`, `token_type_hint`."""
    if is_private_app_token(token):
        raise PermanentRefreshError(
            "not_revocable", "a private-app token is revoked in HubSpot's settings", reconnect_required=False
        )
    app = needs_client(client, "revocation")
    form = {
        "client_id": app.client_id,
        "client_secret": app.client_secret,
        "token": token,
        "token_type_hint": token_kind,
    }
    return TokenRequest(url=url, form=form, endpoint="revocation endpoint")


def already_invalid(status: int, code: str) -> bool:
    """A 400 naming a refresh token HubSpot does not hold."""
    return status == 400 and code in _ALREADY_INVALID


IDENTITY = IdentityCall(identity_base, identity_request, identity_account)
REVOCATION = Revocation(lambda metadata, dsn: REVOKE_URL, revoke_request, already_invalid)
AUTHORIZATION = Authorization(
    authorize_endpoint,
    fixed_scopes(*DEFAULT_SCOPES),
    optional_scope="optional_scope",
    params=(("response_type", "code"),),
    pkce=True,
)
PROVIDER = Provider(
    "hubspot", fixed_token_url(TOKEN_URL), client_form, metadata_updates, classify, AUTHORIZATION
)
