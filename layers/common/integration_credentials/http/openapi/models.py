"""The response bodies as pydantic models (the document's schemas).

Only the document generator imports this module: the routes' `responses=` refer to these schemas
by name (`responses.schema_ref`), so no function builds them at init or on its first request."""

from datetime import datetime
from typing import Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

from ...core.constants import ORG_ID_PATTERN, PROVIDER_PATTERN
from .examples import EXAMPLE_ID, SALESFORCE_EXAMPLE


class LastError(BaseModel):
    """Why the last token refresh failed (never a token)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Provider or service error code: invalid_grant, http_503, ...")
    message: str = Field(description="Short description (at most 200 characters)")


class Account(BaseModel):
    """The CRM account a credential's token belongs to, as the CRM's identity call names it."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(
        description=(
            "The account: Salesforce organization id, HubSpot hub id, Pipedrive company id, Zoho CRM "
            "org id, Dynamics OrganizationId (always a string)"
        )
    )
    name: str | None = Field(default=None, description="The account's name or domain, where the CRM says")
    user: str | None = Field(default=None, description="The user the token acts as, where the CRM says")


def _no_default(schema: JsonDict) -> None:
    # Optional in the response, never filled in with a default: absent means withheld.
    schema.pop("default", None)


class CredentialsOut(BaseModel):
    """A stored credentials object, as every route returns it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SALESFORCE_EXAMPLE]})

    id: UUID = Field(description="Generated id of the credentials")
    org_id: str = Field(pattern=ORG_ID_PATTERN, description="The owning organisation (the caller's)")
    provider: str = Field(pattern=PROVIDER_PATTERN, description="CRM provider id, unique per organisation")
    dsn: str = Field(description="Data source name or connection string")
    access_token: str = Field(
        default="",
        description=(
            "Access token or API key for the CRM. Absent for a caller without `credentials:read`, "
            "unless this request sent it (create, update) or made it (refresh)"
        ),
        json_schema_extra=_no_default,
    )
    metadata: dict[str, Any] = Field(
        description=(
            "Provider-specific configuration. For a caller without `credentials:read`: only what this "
            "request sent, never a secret-named key (`refresh_token`, `client_secret`, ...)"
        )
    )
    created_at: datetime = Field(description="UTC, ISO 8601 with microseconds and Z")
    updated_at: datetime = Field(description="UTC, ISO 8601 with microseconds and Z; advances on update")
    # Token refresh (added after the seed; every response carries them).
    status: Literal["active", "refresh_failed", "reauth_required"] = Field(
        default="active",
        description=(
            "`active`; `refresh_failed` (the last refresh failed transiently, it is retried with "
            "backoff); `reauth_required` (the provider refused the grant: store new tokens with PUT)"
        ),
    )
    expires_at: datetime | None = Field(
        default=None,
        description=(
            "When the access token expires (provider's expires_in, else metadata.expires_at, else "
            "the provider's usual lifetime); refreshed ahead of it when metadata has a refresh_token"
        ),
    )
    last_refreshed_at: datetime | None = Field(default=None, description="Last successful token refresh")
    last_error: LastError | None = Field(default=None, description="Why the last refresh failed")
    # Connection health (added after the seed; every response carries them).
    account: Account | None = Field(
        default=None,
        description="The CRM account the token belongs to (read-only), once a connect or verification saw it",
    )
    verified_at: datetime | None = Field(
        default=None, description="Last time the CRM accepted the token (verification); null until then"
    )


class ErrorDetail(BaseModel):
    """Every error body."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(description="What went wrong, for a person to read")


class DeleteResult(BaseModel):
    """Body of a successful delete."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        pattern=r"^Integration credentials [0-9a-f-]{36} deleted successfully$",
        examples=[f"Integration credentials {EXAMPLE_ID} deleted successfully"],
    )


class ConnectStarted(BaseModel):
    """Body of a started connection."""

    model_config = ConfigDict(extra="forbid")

    connect_url: str = Field(
        description=(
            "The provider's authorize URL, to send the user's browser to: our callback as "
            "`redirect_uri`, a single-use `state`, and a PKCE S256 challenge where the provider supports it"
        )
    )
    expires_at: datetime = Field(description="Until when the link works (UTC); then start again")
    state_hash: str = Field(
        pattern="^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of the link's state: keep it in the user's session; the signed result "
            "(`connect_result`) the browser brings back to the return URL names it"
        ),
    )


# The response bodies the routes name (`responses.schema_ref`); the generator adds their schemas,
# and those of the models they hold, to the document's components.
RESPONSE_MODELS: Final = (CredentialsOut, ErrorDetail, DeleteResult, ConnectStarted)
