"""What the service answers, as typed objects. Unknown fields are kept in `extra`, so a newer
service does not break an older client; reprs mask the access token and secret metadata."""

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

MASK = "***"

# The service's rule for metadata keys that hold secrets (refresh_token, client_secret, api_token,
# apiKey, password, private_key, ...): a key names a secret when one of these occurs in it,
# case-insensitive, separators ignored. Kept in step with the service by hand (a sync job installs
# this package alone); a unit test holds the two equal on the same names.
_SECRET_KEY = re.compile(r"token|secret|passw|passphrase|apikey|privatekey|credential|assertion|signature")
_SEPARATORS = re.compile(r"[^a-z0-9]")


def is_secret_key(name: str) -> bool:
    """Whether a metadata key holds a secret (`refresh_token`, `clientSecret`, `api-key`, ...)."""
    return bool(_SECRET_KEY.search(_SEPARATORS.sub("", name.lower())))


def masked(value: Any) -> Any:
    """`value` with the value of every secret-named key replaced by `***`, at any depth."""
    if isinstance(value, Mapping):
        return {key: MASK if is_secret_key(str(key)) else masked(item) for key, item in value.items()}
    if isinstance(value, list):
        return [masked(item) for item in value]
    return value


def parse_timestamp(value: str | None) -> datetime | None:
    """A service timestamp (UTC ISO 8601 with `Z`) as an aware datetime; None if absent or not one."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


_CREDENTIALS_FIELDS = (
    "id",
    "provider",
    "org_id",
    "dsn",
    "access_token",
    "metadata",
    "created_at",
    "updated_at",
    "status",
    "expires_at",
    "last_refreshed_at",
    "last_error",
    "account",
    "verified_at",
)


@dataclass(frozen=True, repr=False)
class Credentials:
    """A credentials object. `etag` is the version it was read or written at (None in a list,
    which carries no ETags); `access_token` is None when the caller may not read it; `extra`
    holds the fields this version of the client does not know."""

    id: str
    provider: str
    org_id: str | None = None
    dsn: str | None = None
    access_token: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    created_at: str | None = None
    updated_at: str | None = None
    status: str | None = None
    expires_at: str | None = None
    last_refreshed_at: str | None = None
    last_error: Mapping[str, Any] | None = None
    account: Mapping[str, Any] | None = None
    verified_at: str | None = None
    etag: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any], etag: str | None = None) -> "Credentials":
        """The object from an answer's JSON and its ETag header."""
        known = {name: body[name] for name in _CREDENTIALS_FIELDS if name in body}
        known.setdefault("id", "")
        known.setdefault("provider", "")
        if not isinstance(known.get("metadata"), Mapping):
            known["metadata"] = {}
        extra = {name: value for name, value in body.items() if name not in _CREDENTIALS_FIELDS}
        return cls(**known, etag=etag, extra=extra)

    @property
    def expires(self) -> datetime | None:
        """`expires_at` as a datetime (None when the service does not know it)."""
        return parse_timestamp(self.expires_at)

    def __repr__(self) -> str:
        shown = {
            "id": self.id,
            "provider": self.provider,
            "org_id": self.org_id,
            "dsn": self.dsn,
            "access_token": None if self.access_token is None else MASK,
            "metadata": masked(dict(self.metadata)),
            "status": self.status,
            "expires_at": self.expires_at,
            "etag": self.etag,
        }
        if self.extra:
            shown["extra"] = masked(dict(self.extra))
        return "Credentials(" + ", ".join(f"{name}={value!r}" for name, value in shown.items()) + ")"

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectStarted:
    """The answer of `connect`: send the user's browser to `connect_url` before `expires_at`."""

    connect_url: str
    expires_at: str | None = None
    state_hash: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> "ConnectStarted":
        names = ("connect_url", "expires_at", "state_hash")
        extra = {name: value for name, value in body.items() if name not in names}
        return cls(
            connect_url=str(body.get("connect_url", "")),
            expires_at=body.get("expires_at"),
            state_hash=body.get("state_hash"),
            extra=extra,
        )
