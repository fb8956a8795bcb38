"""Body of `POST /integration-credentials/connect`."""

from typing import Annotated, Final

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from . import Metadata, ProviderId, absent_means_unchanged, utf8_text

Scope = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
# An opaque id of the platform's user: visible ASCII, bounded (it travels in the signed result).
END_USER_PATTERN: Final = r"^[\x21-\x7e]{1,256}$"
UUID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ConnectRequest(BaseModel):
    """Body of `POST /integration-credentials/connect`: start the OAuth authorization-code flow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: ProviderId = Field(description="salesforce, hubspot, pipedrive, zoho or dynamics")
    return_url: Annotated[
        str, StringConstraints(min_length=1, max_length=2048), AfterValidator(utf8_text)
    ] = Field(description="Where the user's browser lands afterwards; must be on the deployment's allow-list")
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="The scopes to ask for (default: the provider's, docs/connect.md); not for pipedrive",
        json_schema_extra=absent_means_unchanged,
    )
    optional_scopes: Annotated[list[Scope], Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="HubSpot only: scopes the user may decline (`optional_scope`)",
        json_schema_extra=absent_means_unchanged,
    )
    metadata: Metadata = Field(
        default_factory=dict,
        description=(
            "Hints for the provider (salesforce `login_url`; dynamics `tenant_id` and `instance_url`; "
            "zoho `data_center`), stored with the credentials' metadata, encrypted meanwhile"
        ),
    )
    credentials_id: Annotated[str, StringConstraints(pattern=UUID_PATTERN)] | None = Field(
        default=None,
        description="Reconnect these credentials (same id and created_at) instead of connecting anew",
        json_schema_extra=absent_means_unchanged,
    )
    end_user: Annotated[str, StringConstraints(pattern=END_USER_PATTERN)] | None = Field(
        default=None,
        description=(
            "Who the link is for: an opaque id of the platform's user (1 to 256 visible ASCII "
            "characters), kept encrypted with the link and named in the signed result "
            "(`connect_result`) the browser brings back, so the return page can check it against "
            "its own session"
        ),
        json_schema_extra=absent_means_unchanged,
    )
    allow_account_change: bool = Field(
        default=False,
        description=(
            "A reconnect only: accept new tokens of another CRM account than the one the credentials "
            "belong to (a deliberate move: stored, audited and published as `Integration Credentials "
            "Account Changed`); without it such a reconnect is refused (`error=account_mismatch`)"
        ),
    )
