"""When a credential's access token expires and when to refresh it: pure rules, no I/O.

A credential is refreshable when its provider has a refresh client and its metadata holds a
`refresh_token`. Its access token expires at `expires_at`: from the provider's `expires_in`,
else the `expires_at` the client stored in metadata, else a default lifetime per provider. The
scheduler refreshes it `REFRESH_MARGIN_SECONDS` ahead of that (`refresh_due`).

Credentials no refresh touches (API keys, private-app tokens, credentials without a refresh token)
of a provider with an identity call are verified instead, every VERIFY_INTERVAL_SECONDS: their
`refresh_due` is the next time in the period that a hash of their id picks, so a day's
verifications are spread over the day, and the same queue, worker and provider limits serve both.
"""

import hashlib
import math
import random
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ..core.constants import IDENTIFIABLE_PROVIDERS, REFRESHABLE_PROVIDERS
from ..core.models import (
    STATUS_ACTIVE,
    CredentialsSecret,
    RefreshState,
    StoredCredentials,
    format_timestamp,
)
from ..core.settings import Settings

if TYPE_CHECKING:
    # Annotations only: importing the providers would load every OAuth client.
    from ..adapters.providers import TokenRefresh

# Access token lifetime where the provider states none (Salesforce: session policy, 2 h typical)
# or the client stored no expiry; ACCESS_TOKEN_LIFETIME_SECONDS overrides per provider.
DEFAULT_LIFETIMES: Mapping[str, int] = {
    "salesforce": 7200,
    "hubspot": 1800,
    "pipedrive": 3600,
    "zoho": 3600,
    "dynamics": 3600,
}
FALLBACK_LIFETIME = 3600
# Refresh tokens that lapse when unused (Pipedrive: 60 days): refreshed a day before at the latest.
IDLE_REFRESH_TOKEN_SECONDS: Mapping[str, int] = {"pipedrive": 60 * 86400}
IDLE_MARGIN_SECONDS = 86400
# On-demand refreshes closer together than this return the fresh token instead of asking again
# (Zoho: at most 10 access tokens per refresh token per 10 minutes).
MIN_INTERVALS: Mapping[str, int] = {"zoho": 60}
MAX_ERROR_MESSAGE_CHARS = 200
# Slack on top of the provider deadline and the write budget before a refresh is started.
START_MARGIN_SECONDS = 1.0


def refresh_budget_seconds(settings: Settings) -> float:
    """The time a refresh needs left before it may start: the provider call's total deadline,
    storing what the provider issued, and a margin. template.yaml's timeouts, batch size and
    lease are chosen against it (tests/infrastructure/test_budgets.py states the inequalities)."""
    return (
        settings.refresh_http_timeout_seconds + settings.refresh_write_budget_seconds + START_MARGIN_SECONDS
    )


# Epoch numbers at or above this (year 5138 in seconds) are milliseconds, as clients often send.
EPOCH_MILLISECONDS_FROM = 100_000_000_000
# The last second a timestamp of ours can name (9999-12-31T23:59:59Z).
MAX_EPOCH_SECONDS = 253_402_300_799
# After a refresh the next one is at least this far away, whatever lifetime the provider states.
MIN_REFRESH_SPACING_SECONDS = 60
_EPOCH_NUMBER = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,9})?$")


def parse_time(value: object) -> float | None:
    """Epoch seconds of a time a client stored: an ISO 8601 timestamp (with Z or any offset), epoch
    seconds or epoch milliseconds (a number, or a string of digits). None for anything else,
    including times before 1970 or after 9999: such a value is kept as sent, never scheduled by."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and _EPOCH_NUMBER.fullmatch(value.strip()):
        value = float(value.strip())
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = value / 1000 if value >= EPOCH_MILLISECONDS_FROM else float(value)
        return seconds if seconds <= MAX_EPOCH_SECONDS else None
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        seconds = parsed.timestamp()
    except (ValueError, OverflowError, OSError):
        return None
    return seconds if 0 < seconds <= MAX_EPOCH_SECONDS else None


def moved_expiry(stored: object, expires: float) -> object:
    """The client's `metadata.expires_at` moved to `expires`, in the form the client used (epoch
    seconds, epoch milliseconds, or an ISO timestamp); a value the service cannot read stays."""
    if parse_time(stored) is None:
        return stored
    if isinstance(stored, int | float) and not isinstance(stored, bool):
        return math.floor(expires * 1000) if stored >= EPOCH_MILLISECONDS_FROM else math.floor(expires)
    return format_timestamp(expires)


def not_refreshable_reason(provider: str, metadata: Mapping[str, Any]) -> str | None:
    """Why these credentials cannot be refreshed, or None when they can."""
    if provider not in REFRESHABLE_PROVIDERS:
        return f"provider '{provider}' has no token refresh"
    token = metadata.get("refresh_token")
    if not isinstance(token, str) or not token.strip():
        return "metadata has no refresh_token"
    return None


def verified_by_schedule(provider: str, metadata: Mapping[str, Any]) -> bool:
    """Whether the scheduler verifies these credentials instead of refreshing them: no refresh
    touches them, and their provider has an identity call."""
    return provider in IDENTIFIABLE_PROVIDERS and not_refreshable_reason(provider, metadata) is not None


def next_verification(credentials_id: str, *, now: float, interval: int) -> int:
    """The first time strictly after `now` in the credential's slot of the period: slots are
    `interval` apart, offset by a hash of the id (stable across processes, unlike `hash()`)."""
    offset = int.from_bytes(hashlib.sha256(credentials_id.encode()).digest()[:8], "big") % interval
    current = math.floor(now)
    return current + interval - (current - offset) % interval


def lifetime(provider: str, settings: Settings) -> int:
    """Assumed access token lifetime (seconds) when neither provider nor client states one."""
    configured = settings.access_token_lifetime_seconds.get(provider)
    return configured or DEFAULT_LIFETIMES.get(provider, FALLBACK_LIFETIME)


def scheduled_state(
    provider: str,
    secret: CredentialsSecret,
    *,
    now: float,
    settings: Settings,
    expires_in: int | None = None,
    last_refreshed_at: str | None = None,
    credentials_id: str | None = None,
) -> RefreshState:
    """An active credential's state: when its access token expires and when to refresh it (or,
    with `credentials_id`, when to verify one `verified_by_schedule`).
    Right after a refresh (`last_refreshed_at` given), the next one is at least
    MIN_REFRESH_SPACING_SECONDS away, so a token the provider says is short-lived is no loop."""
    stored = parse_time(secret.metadata.get("expires_at"))
    if expires_in is not None:
        expires = now + expires_in
    elif stored is not None:
        expires = stored
    else:
        expires = now + lifetime(provider, settings)
    due: int | None = None
    if not_refreshable_reason(provider, secret.metadata) is None:
        due_at = expires - settings.refresh_margin_seconds
        idle = IDLE_REFRESH_TOKEN_SECONDS.get(provider)
        if idle is not None:
            due_at = min(due_at, now + idle - IDLE_MARGIN_SECONDS)
        earliest = now + MIN_REFRESH_SPACING_SECONDS if last_refreshed_at is not None else now
        due = math.floor(max(due_at, earliest))
    elif credentials_id is not None and verified_by_schedule(provider, secret.metadata):
        due = next_verification(credentials_id, now=now, interval=settings.verify_interval_seconds)
    return RefreshState(
        status=STATUS_ACTIVE,
        expires_at=format_timestamp(expires),
        last_refreshed_at=last_refreshed_at,
        refresh_due=due,
    )


def backoff_seconds(failures: int, settings: Settings, retry_after: float | None = None) -> int:
    """Delay before retry number `failures` (1, 2, ...): exponential, capped, with jitter in the
    upper half (spread out, yet never quicker than half the step), at least `retry_after`."""
    cap = settings.refresh_backoff_cap_seconds
    step = float(min(cap, settings.refresh_backoff_base_seconds * 2 ** min(failures - 1, 40)))
    delay = step / 2 + random.uniform(0, step / 2)  # noqa: S311 - jitter, not crypto
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return math.ceil(delay)


def refreshed_secret(secret: CredentialsSecret, token: "TokenRefresh", expires: float) -> CredentialsSecret:
    """The secret after a refresh: the new access token; the new refresh token if one came (the
    stored one is kept otherwise); provider-sent metadata (instance_url, api_domain); and the
    client's own `expires_at`, when it keeps one the service can read, moved to the new expiry."""
    metadata = {**secret.metadata, **token.metadata_updates}
    if token.refresh_token:
        metadata["refresh_token"] = token.refresh_token
    if "expires_at" in metadata:
        metadata["expires_at"] = moved_expiry(metadata["expires_at"], expires)
    return CredentialsSecret(dsn=secret.dsn, access_token=token.access_token, metadata=metadata)


def state_after_update(
    row: StoredCredentials,
    previous: CredentialsSecret,
    secret: CredentialsSecret,
    *,
    now: float,
    settings: Settings,
) -> RefreshState:
    """A credential's state after a user's update: new tokens (access token, refresh token or
    the client's expires_at) make it active and rescheduled; other changes keep its state,
    unless they made it unrefreshable (then it is verified by schedule where it can be, else not
    scheduled at all)."""
    tokens_changed = secret.access_token != previous.access_token or any(
        secret.metadata.get(key) != previous.metadata.get(key) for key in ("refresh_token", "expires_at")
    )
    if tokens_changed:
        fresh = scheduled_state(row.provider, secret, now=now, settings=settings, credentials_id=row.id)
        return fresh.replace(last_refreshed_at=row.state.last_refreshed_at)
    if row.state.refresh_due is not None and not_refreshable_reason(row.provider, secret.metadata):
        if not verified_by_schedule(row.provider, secret.metadata):
            return row.state.replace(refresh_due=None)
        if not_refreshable_reason(row.provider, previous.metadata) is None:
            # Its due time was a refresh's: from now on it is a verification's.
            interval = settings.verify_interval_seconds
            return row.state.replace(refresh_due=next_verification(row.id, now=now, interval=interval))
    return row.state


def recently_refreshed(row: StoredCredentials, *, now: float, settings: Settings) -> bool:
    """Whether an active credential was refreshed within the provider's minimum interval (an
    on-demand refresh then returns the fresh token instead of asking the provider again)."""
    last = parse_time(row.state.last_refreshed_at)
    if last is None or row.state.status != STATUS_ACTIVE:
        return False
    interval = max(settings.refresh_min_interval_seconds, MIN_INTERVALS.get(row.provider, 0))
    return now - last < interval
