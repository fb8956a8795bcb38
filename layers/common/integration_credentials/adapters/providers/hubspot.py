"""HubSpot: form POST to /oauth/v3/token; returns `refresh_token` and `expires_in` (30 min).

Connect: `https://app.hubspot.com/oauth/authorize` with a space-separated `scope` (required; every
scope the app's settings mark required must be in it) and `optional_scope`, `response_type=code`
(RFC 6749 requires it; HubSpot's guide does not list it and does not forbid it) and PKCE S256: the
token endpoint's reference (`/oauth/2026-03/token`) takes `code_verifier`. `DEFAULT_SCOPES` is the
quickstart guide's example, `oauth crm.objects.contacts.read`. The code exchange goes to the token
endpoint refresh uses.
"""

from collections.abc import Mapping
from typing import Any

from ._base import Authorization, Outcome, Provider, client_form, fixed_scopes, fixed_token_url

TOKEN_URL = "https://api.hubapi.com/oauth/v3/token"
AUTHORIZE_URL = "https://app.hubspot.com/oauth/authorize"
DEFAULT_SCOPES = ("oauth", "crm.objects.contacts.read")


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
