"""Request bodies (validated by pydantic) and the stored credentials object.

Longer than 300 lines: the request bodies, the stored row and its public view share one set of
field rules, and read best beside each other.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from .constants import MAX_ACCESS_TOKEN_CHARS, MAX_DSN_CHARS, PROVIDER_PATTERN, TIMESTAMP_FORMAT
from .validation import metadata_problem, text_problem


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _rule_error(problem: str) -> PydanticCustomError:
    # `json_rule`: the message is the problem, already naming the field (api.validation_message).
    return PydanticCustomError("json_rule", "{problem}", {"problem": problem})


def _utf8_text(value: str, info: Any) -> str:
    problem = text_problem(value, str(info.field_name))
    if problem is not None:
        raise _rule_error(problem)
    return value


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = metadata_problem(value)
    if problem is not None:
        raise _rule_error(problem)
    return value


# The JSON schema (OpenAPI) of `_not_blank`: one character that str.strip() does not remove.
_NOT_BLANK_SCHEMA = Field(
    json_schema_extra={
        "pattern": r"[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    }
)


def _absent_means_unchanged(schema: JsonDict) -> None:
    # JSON schema only: `None` is the value of an absent field, not one a client may send
    # (`_null_is_not_absent` rejects it), so the schema has neither a null branch nor a default.
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        others = [branch for branch in branches if branch != {"type": "null"}]
        if len(others) == 1 and isinstance(others[0], dict):
            schema.update(others[0])
        else:
            schema["anyOf"] = others


def _optional() -> Any:
    return Field(default=None, json_schema_extra=_absent_means_unchanged)


ProviderId = Annotated[str, StringConstraints(pattern=PROVIDER_PATTERN)]
Dsn = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_DSN_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_utf8_text),
    _NOT_BLANK_SCHEMA,
]
AccessToken = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_ACCESS_TOKEN_CHARS),
    AfterValidator(_not_blank),
    AfterValidator(_utf8_text),
    _NOT_BLANK_SCHEMA,
]
# Any JSON object, within the bounds of `validation` (depth, keys, finite numbers, UTF-8).
Metadata = Annotated[dict[str, Any], AfterValidator(_storable_metadata)]


class CredentialsCreate(BaseModel):
    """Body of `POST /integration-credentials/`."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: ProviderId
    dsn: Dsn
    access_token: AccessToken
    metadata: Metadata = Field(default_factory=dict)


class CredentialsUpdate(BaseModel):
    """Body of `PUT /integration-credentials/{id}`: every field optional, `metadata` a merge patch."""

    # The JSON schema says what the service accepts: at least one field, none of them null.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    dsn: Dsn | None = _optional()
    access_token: AccessToken | None = _optional()
    metadata: Metadata | None = _optional()

    @field_validator("dsn", "access_token", "metadata", mode="before")
    @classmethod
    def _null_is_not_absent(cls, value: Any, info: Any) -> Any:
        # Runs only for fields present in the body: an explicit null cannot remove a required field.
        if value is None:
            expected = "dict_type" if info.field_name == "metadata" else "string_type"
            raise PydanticCustomError(expected, "null is not allowed")
        return value


Scope = Annotated[str, StringConstraints(min_length=1, max_length=256, pattern=r"^[\x21-\x7e]+$")]
# An opaque id of the platform's user: visible ASCII, bounded (it travels in the signed result).
END_USER_PATTERN: Final = r"^[\x21-\x7e]{1,256}$"
UUID_PATTERN: Final = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


class ConnectRequest(BaseModel):
    """Body of `POST /integration-credentials/connect`: start the OAuth authorization-code flow."""

    model_config = ConfigDict(extra="forbid", strict=True)

    provider: ProviderId = Field(description="salesforce, hubspot, pipedrive, zoho or dynamics")
    return_url: Annotated[
        str, StringConstraints(min_length=1, max_length=2048), AfterValidator(_utf8_text)
    ] = Field(description="Where the user's browser lands afterwards; must be on the deployment's allow-list")
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="The scopes to ask for (default: the provider's, docs/connect.md); not for pipedrive",
        json_schema_extra=_absent_means_unchanged,
    )
    optional_scopes: Annotated[list[Scope], Field(min_length=1, max_length=50)] | None = Field(
        default=None,
        description="HubSpot only: scopes the user may decline (`optional_scope`)",
        json_schema_extra=_absent_means_unchanged,
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
        json_schema_extra=_absent_means_unchanged,
    )
    end_user: Annotated[str, StringConstraints(pattern=END_USER_PATTERN)] | None = Field(
        default=None,
        description=(
            "Who the link is for: an opaque id of the platform's user (1 to 256 visible ASCII "
            "characters), kept encrypted with the link and named in the signed result "
            "(`connect_result`) the browser brings back, so the return page can check it against "
            "its own session"
        ),
        json_schema_extra=_absent_means_unchanged,
    )
    allow_account_change: bool = Field(
        default=False,
        description=(
            "A reconnect only: accept new tokens of another CRM account than the one the credentials "
            "belong to (a deliberate move: stored, audited and published as `Integration Credentials "
            "Account Changed`); without it such a reconnect is refused (`error=account_mismatch`)"
        ),
    )


@dataclass(frozen=True, slots=True)
class CredentialsSecret:
    """The part of a credential that is only ever stored encrypted."""

    dsn: str
    access_token: str
    metadata: dict[str, Any]


def body_secret(request: CredentialsCreate) -> CredentialsSecret:
    """The secret of a create request."""
    return CredentialsSecret(dsn=request.dsn, access_token=request.access_token, metadata=request.metadata)


CredentialsStatus = Literal["active", "refresh_failed", "reauth_required"]
STATUS_ACTIVE: Final = "active"
STATUS_REFRESH_FAILED: Final = "refresh_failed"
STATUS_REAUTH_REQUIRED: Final = "reauth_required"


@dataclass(frozen=True, slots=True)
class RefreshState:
    """Token refresh bookkeeping, stored in plaintext beside the ciphertext (never a token).

    `refresh_due` (epoch seconds) is set while the scheduler should refresh the credential: it is
    the sort key of the sparse `refresh-due` index. `failures` counts refresh failures in a row.
    """

    status: CredentialsStatus = "active"
    expires_at: str | None = None
    last_refreshed_at: str | None = None
    last_error_code: str | None = None
    last_error_message: str | None = None
    refresh_due: int | None = None
    failures: int = 0

    @property
    def last_error(self) -> dict[str, str] | None:
        """The public form of the last refresh error: `{"code", "message"}`, or None."""
        if not self.last_error_code:
            return None
        return {"code": self.last_error_code, "message": self.last_error_message or ""}


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a credential's refresh lease, and until when (epoch milliseconds)."""

    owner: str
    until_ms: int


@dataclass(frozen=True, slots=True)
class Account:
    """The CRM account a credential's token belongs to, as the CRM's identity call names it:
    `id` the account (Salesforce org, HubSpot portal, Pipedrive company, Zoho CRM org, Dynamics
    organization), `name` its name or domain and `user` the user the token acts as, where told."""

    id: str
    name: str | None = None
    user: str | None = None

    def as_json(self) -> dict[str, str]:
        """The public `account` object: `id`, and `name` and `user` where known."""
        shown = {"id": self.id, "name": self.name, "user": self.user}
        return {key: value for key, value in shown.items() if value is not None}


@dataclass(frozen=True, slots=True)
class StoredCredentials:
    """A row as the table holds it: plaintext keys, timestamps and refresh state, encrypted secret."""

    id: str
    org_id: str
    provider: str
    version: int
    created_at: str
    updated_at: str
    ciphertext: bytes
    state: RefreshState = field(default_factory=RefreshState)
    lease: Lease | None = None
    # The HMAC of the Idempotency-Key request that created the row (`logic.idempotency`), by
    # which a retry of that request recognises the row as its own.
    idempotency_hmac: str | None = None
    # The CRM account the token was last verified to belong to, and when (plaintext: no secret).
    account: Account | None = None
    verified_at: str | None = None

    @property
    def encryption_context(self) -> dict[str, str]:
        """Binds the ciphertext to this org, provider and id."""
        return {"org_id": self.org_id, "provider": self.provider, "id": self.id}


def credentials_view(row: StoredCredentials, secret: CredentialsSecret) -> dict[str, Any]:
    """The public JSON object, fields in the seed's order."""
    return {
        "id": row.id,
        "org_id": row.org_id,
        "provider": row.provider,
        "dsn": secret.dsn,
        "access_token": secret.access_token,
        "metadata": secret.metadata,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        # Added by token refresh (backward compatible: new fields, after the seed's).
        "status": row.state.status,
        "expires_at": row.state.expires_at,
        "last_refreshed_at": row.state.last_refreshed_at,
        "last_error": row.state.last_error,
        # Added by connection health: the CRM account and the last successful verification.
        "account": row.account.as_json() if row.account is not None else None,
        "verified_at": row.verified_at,
    }


@dataclass(frozen=True, slots=True)
class CredentialsResult:
    """A credentials object and the version it was read or written at."""

    body: dict[str, Any]
    version: int

    @property
    def etag(self) -> str:
        """Strong ETag of the row's version."""
        return etag_of(self.version)


def format_timestamp(epoch: float) -> str:
    """An epoch time as the service's UTC ISO 8601 timestamp."""
    return datetime.fromtimestamp(epoch, UTC).strftime(TIMESTAMP_FORMAT)


def utc_timestamp(after: str | None = None) -> str:
    """Now, in UTC ISO 8601 with a `Z`; strictly later than `after` when given."""
    now = datetime.now(UTC)
    if after is not None:
        previous = datetime.strptime(after, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        now = max(now, previous + timedelta(microseconds=1))
    return now.strftime(TIMESTAMP_FORMAT)


def etag_of(version: int) -> str:
    """The ETag of a version: a quoted string, compared strongly."""
    return f'"{version}"'


def if_match_allows(if_match: str | None, version: int) -> bool:
    """RFC 9110 If-Match with strong comparison: absent (or empty), `*`, or a list naming this
    version."""
    if if_match is None or not if_match.strip():
        return True
    tags = {tag.strip() for tag in if_match.split(",")}
    return "*" in tags or etag_of(version) in tags
