"""The stored credentials object, its parts and its public view (the request bodies: `bodies`);
immutable values (`frozen.Frozen`)."""

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Final, Literal

from .constants import TIMESTAMP_FORMAT
from .frozen import Frozen, set_field

if TYPE_CHECKING:
    from .bodies.create import CredentialsCreate


class CredentialsSecret(Frozen):
    """The part of a credential that is only ever stored encrypted."""

    __slots__ = ("access_token", "dsn", "metadata")

    dsn: str
    access_token: str
    metadata: dict[str, Any]

    def __init__(self, dsn: str, access_token: str, metadata: dict[str, Any]) -> None:
        set_field(self, "dsn", dsn)
        set_field(self, "access_token", access_token)
        set_field(self, "metadata", metadata)


def body_secret(request: "CredentialsCreate") -> CredentialsSecret:
    """The secret of a create request."""
    return CredentialsSecret(dsn=request.dsn, access_token=request.access_token, metadata=request.metadata)


CredentialsStatus = Literal["active", "refresh_failed", "reauth_required"]
STATUS_ACTIVE: Final = "active"
STATUS_REFRESH_FAILED: Final = "refresh_failed"
STATUS_REAUTH_REQUIRED: Final = "reauth_required"


class RefreshState(Frozen):
    """Token refresh bookkeeping, stored in plaintext beside the ciphertext (never a token).

    `refresh_due` (epoch seconds) is set while the scheduler should refresh the credential: it is
    the sort key of the sparse `refresh-due` index. `failures` counts refresh failures in a row.
    """

    __slots__ = (
        "expires_at",
        "failures",
        "last_error_code",
        "last_error_message",
        "last_refreshed_at",
        "refresh_due",
        "status",
    )

    status: CredentialsStatus
    expires_at: str | None
    last_refreshed_at: str | None
    last_error_code: str | None
    last_error_message: str | None
    refresh_due: int | None
    failures: int

    def __init__(
        self,
        status: CredentialsStatus = "active",
        expires_at: str | None = None,
        last_refreshed_at: str | None = None,
        last_error_code: str | None = None,
        last_error_message: str | None = None,
        refresh_due: int | None = None,
        failures: int = 0,
    ) -> None:
        set_field(self, "status", status)
        set_field(self, "expires_at", expires_at)
        set_field(self, "last_refreshed_at", last_refreshed_at)
        set_field(self, "last_error_code", last_error_code)
        set_field(self, "last_error_message", last_error_message)
        set_field(self, "refresh_due", refresh_due)
        set_field(self, "failures", failures)

    @property
    def last_error(self) -> dict[str, str] | None:
        """The public form of the last refresh error: `{"code", "message"}`, or None."""
        if not self.last_error_code:
            return None
        return {"code": self.last_error_code, "message": self.last_error_message or ""}


# A row's state before any refresh (immutable: one instance serves every row).
NEW_STATE: Final = RefreshState()


class Lease(Frozen):
    """Who holds a credential's refresh lease, and until when (epoch milliseconds)."""

    __slots__ = ("owner", "until_ms")

    owner: str
    until_ms: int

    def __init__(self, owner: str, until_ms: int) -> None:
        set_field(self, "owner", owner)
        set_field(self, "until_ms", until_ms)


class Account(Frozen):
    """The CRM account a credential's token belongs to, as the CRM's identity call names it:
    `id` the account (Salesforce org, HubSpot portal, Pipedrive company, Zoho CRM org, Dynamics
    organization), `name` its name or domain and `user` the user the token acts as, where told."""

    __slots__ = ("id", "name", "user")

    id: str
    name: str | None
    user: str | None

    def __init__(self, id: str, name: str | None = None, user: str | None = None) -> None:
        set_field(self, "id", id)
        set_field(self, "name", name)
        set_field(self, "user", user)

    def as_json(self) -> dict[str, str]:
        """The public `account` object: `id`, and `name` and `user` where known."""
        shown = {"id": self.id, "name": self.name, "user": self.user}
        return {key: value for key, value in shown.items() if value is not None}


class StoredCredentials(Frozen):
    """A row as the table holds it: plaintext keys, timestamps and refresh state, encrypted secret."""

    __slots__ = (
        "account",
        "ciphertext",
        "created_at",
        "id",
        "idempotency_hmac",
        "lease",
        "org_id",
        "provider",
        "state",
        "updated_at",
        "verified_at",
        "version",
    )

    id: str
    org_id: str
    provider: str
    version: int
    created_at: str
    updated_at: str
    ciphertext: bytes
    state: RefreshState
    lease: Lease | None
    # The HMAC of the Idempotency-Key request that created the row (`logic.idempotency`), by
    # which a retry of that request recognises the row as its own.
    idempotency_hmac: str | None
    # The CRM account the token was last verified to belong to, and when (plaintext: no secret).
    account: Account | None
    verified_at: str | None

    def __init__(
        self,
        id: str,
        org_id: str,
        provider: str,
        version: int,
        created_at: str,
        updated_at: str,
        ciphertext: bytes,
        state: RefreshState = NEW_STATE,
        lease: Lease | None = None,
        idempotency_hmac: str | None = None,
        account: Account | None = None,
        verified_at: str | None = None,
    ) -> None:
        set_field(self, "id", id)
        set_field(self, "org_id", org_id)
        set_field(self, "provider", provider)
        set_field(self, "version", version)
        set_field(self, "created_at", created_at)
        set_field(self, "updated_at", updated_at)
        set_field(self, "ciphertext", ciphertext)
        set_field(self, "state", state)
        set_field(self, "lease", lease)
        set_field(self, "idempotency_hmac", idempotency_hmac)
        set_field(self, "account", account)
        set_field(self, "verified_at", verified_at)

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


class CredentialsResult(Frozen):
    """A credentials object and the version it was read or written at."""

    __slots__ = ("body", "version")

    body: dict[str, Any]
    version: int

    def __init__(self, body: dict[str, Any], version: int) -> None:
        set_field(self, "body", body)
        set_field(self, "version", version)

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
