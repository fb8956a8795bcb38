"""Pipedrive: HTTP Basic client_id:client_secret, form grant_type + refresh_token; `api_domain`.

Connect: `https://oauth.pipedrive.com/oauth/authorize` with `client_id`, `redirect_uri`, `state`
and `response_type=code` (RFC 6749 requires it; Pipedrive's reference lists the other three and
does not forbid it). The scopes are set in the app's registration (no scope parameter, so no
default scopes). No PKCE: neither Pipedrive's authorize nor its token reference has a challenge or
a verifier. The code exchange uses HTTP Basic as refresh does.

Identity: `GET {api_domain}/api/v1/users/me` (the current user with the company's data): the
company is `data.company_id`, with `data.company_domain` and the user's `data.id`. An OAuth
access token goes as a bearer token; a credential without a refresh token holds a personal API
token, which goes in the `x-api-token` header (Pipedrive's documented way; never the `api_token`
query parameter, which ends up in logs). Revocation: `POST https://oauth.pipedrive.com/oauth/revoke`
(RFC 7009) with HTTP Basic client credentials, form `token` and `token_type_hint`; an API token
is regenerated in Pipedrive's settings, never revoked through OAuth.
"""

import re
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
    copy_strings,
    fixed_scopes,
    fixed_token_url,
    https_host,
    needs_client,
    not_identifiable,
    string_field,
)
from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"
REVOKE_URL = "https://oauth.pipedrive.com/oauth/revoke"
DEFAULT_API_BASE = "https://api.pipedrive.com"  # where an API token goes without an api_domain
USERS_ME_PATH = "/api/v1/users/me"
# A company's API host: `<company>.pipedrive.com` (or api.pipedrive.com), one plain DNS label.
_API_HOST = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.pipedrive\.com$")


def authorize_endpoint(metadata: Mapping[str, Any]) -> str:
    """One endpoint for every company."""
    return AUTHORIZE_URL


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, grant: Mapping[str, str], dsn: str | None
) -> TokenRequest:
    """Client credentials in the Authorization header only; the form is the grant."""
    return TokenRequest(url=url, form=dict(grant), basic_auth=(client.client_id, client.client_secret))


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """The company's API base URL."""
    return copy_strings(body, "api_domain")


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """Any 400 or 401 from the token endpoint means the grant (or the code) is gone."""
    if status in (400, 401):
        return "reconnect", code
    return None


def holds_api_token(metadata: Mapping[str, Any]) -> bool:
    """A credential without a refresh token holds a personal API token, not an OAuth grant."""
    return string_field(metadata, "refresh_token") is None


def identity_base(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """The company's `api_domain`, else https://api.pipedrive.com."""
    domain = string_field(metadata, "api_domain")
    if domain is None:
        return DEFAULT_API_BASE
    host = https_host(domain)
    if host is None or not _API_HOST.match(host):
        raise not_identifiable(
            "invalid_api_domain", "metadata api_domain is not a https://<company>.pipedrive.com"
        )
    return f"https://{host}"


def identity_request(
    base: str, metadata: Mapping[str, Any], token: str, client: OAuthClient | None
) -> TokenRequest:
    """`GET {base}/api/v1/users/me`: the API token in `x-api-token`, an OAuth token as Bearer."""
    url = base + USERS_ME_PATH
    if holds_api_token(metadata):
        return TokenRequest(
            url=url, method="GET", headers={"x-api-token": token}, endpoint="identity endpoint"
        )
    return bearer(url, token)


def identity_account(body: Mapping[str, Any]) -> Account | None:
    """`data.company_id` (a number upstream), `data.company_domain`, the user's `data.id`."""
    data = body.get("data")
    if not isinstance(data, Mapping):
        return None
    return account_of(data.get("company_id"), name=data.get("company_domain"), user=data.get("id"))


def revoke_request(
    url: str, metadata: Mapping[str, Any], token: str, token_kind: str, client: OAuthClient | None
) -> TokenRequest:
    """HTTP Basic client credentials; form `token`, `token_type_hint`."""
    if holds_api_token(metadata):
        raise PermanentRefreshError(
            "not_revocable",
            "a Pipedrive API token is regenerated in Pipedrive's settings",
            reconnect_required=False,
        )
    app = needs_client(client, "revocation")
    return TokenRequest(
        url=url,
        form={"token": token, "token_type_hint": token_kind},
        basic_auth=(app.client_id, app.client_secret),
        endpoint="revocation endpoint",
    )


def already_invalid(status: int, code: str) -> bool:
    """RFC 7009 answers 200 for an invalid token; a 400 `invalid_token` is read the same way."""
    return status == 400 and code == "invalid_token"


IDENTITY = IdentityCall(identity_base, identity_request, identity_account)
REVOCATION = Revocation(lambda metadata, dsn: REVOKE_URL, revoke_request, already_invalid)
AUTHORIZATION = Authorization(
    authorize_endpoint, fixed_scopes(), scope_separator=None, params=(("response_type", "code"),)
)
PROVIDER = Provider(
    "pipedrive", fixed_token_url(TOKEN_URL), build_request, metadata_updates, classify, AUTHORIZATION
)
