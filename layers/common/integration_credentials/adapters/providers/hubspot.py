"""HubSpot: form POST to /oauth/v3/token; returns `refresh_token` and `expires_in` (30 min)."""

from collections.abc import Mapping
from typing import Any

from ._base import Outcome, Provider, fixed_token_url, refresh_grant
from ._http import TokenRequest
from .models import OAuthClient

TOKEN_URL = "https://api.hubapi.com/oauth/v3/token"


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, refresh_token: str, dsn: str | None
) -> TokenRequest:
    """Form body: grant_type, client_id, client_secret, refresh_token."""
    return TokenRequest(
        url=url,
        form=refresh_grant(client, refresh_token),
    )


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """Nothing besides the tokens."""
    return {}


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`BAD_REFRESH_TOKEN` (v1 `status`), or an OAuth `invalid_grant`."""
    if code in ("BAD_REFRESH_TOKEN", "invalid_grant"):
        return "reconnect", code
    return None


PROVIDER = Provider("hubspot", fixed_token_url(TOKEN_URL), build_request, metadata_updates, classify)
