"""Pipedrive: HTTP Basic client_id:client_secret, form grant_type + refresh_token; `api_domain`."""

from collections.abc import Mapping
from typing import Any

from ._base import Outcome, Provider, copy_strings, fixed_token_url
from ._http import TokenRequest
from .models import OAuthClient

TOKEN_URL = "https://oauth.pipedrive.com/oauth/token"


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, refresh_token: str, dsn: str | None
) -> TokenRequest:
    """Client credentials in the Authorization header only."""
    return TokenRequest(
        url=url,
        form={"grant_type": "refresh_token", "refresh_token": refresh_token},
        basic_auth=(client.client_id, client.client_secret),
    )


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """The company's API base URL."""
    return copy_strings(body, "api_domain")


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """Any 400 or 401 from the token endpoint means the grant is gone."""
    if status in (400, 401):
        return "reconnect", code
    return None


PROVIDER = Provider("pipedrive", fixed_token_url(TOKEN_URL), build_request, metadata_updates, classify)
