"""The values a refresh takes and returns."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class OAuthClient:
    """The platform's OAuth application at one provider."""

    client_id: str
    client_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class TokenRefresh:
    """A successful refresh.

    `refresh_token` is None when the provider returned none (keep the stored one); `expires_in`
    is None when the provider states no lifetime (Salesforce). `metadata_updates` holds the
    non-secret metadata the response changes (`instance_url`, `api_domain`).
    """

    access_token: str = field(repr=False)
    refresh_token: str | None = field(repr=False)
    expires_in: int | None
    metadata_updates: dict[str, Any]
    token_type: str | None = None
    scope: str | None = None
