"""Pipedrive: HTTP Basic client_id:client_secret, form grant_type + refresh_token; `api_domain`.

Connect: `https://oauth.pipedrive.com/oauth/authorize` with `client_id`, `redirect_uri`, `state`
and `response_type=code` (RFC 6749 requires it; Pipedrive's reference lists the other three and
does not forbid it). The scopes are set in the app's registration (no scope parameter, so no
default scopes). No PKCE: neither Pipedrive's authorize nor its token reference has a challenge or
a verifier. The code exchange uses HTTP Basic as refresh does.
"""

from collections.abc import Mapping
from typing import Any

from ._base import Authorization, Outcome, Provider, copy_strings, fixed_scopes, fixed_token_url
from ._http import TokenRequest
from .models import OAuthClient

TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"
AUTHORIZE_URL = "https://oauth.pipedrive.com/oauth/authorize"


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


AUTHORIZATION = Authorization(
    authorize_endpoint, fixed_scopes(), scope_separator=None, params=(("response_type", "code"),)
)
PROVIDER = Provider(
    "pipedrive", fixed_token_url(TOKEN_URL), build_request, metadata_updates, classify, AUTHORIZATION
)
