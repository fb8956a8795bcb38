"""Keeping OAuth access tokens fresh: when a credential is due, and refreshing it under a lease.

A credential is refreshable when its provider has a refresh client (`providers`) and its
metadata holds a `refresh_token`. Its access token expires at `expires_at`: from the provider's
`expires_in`, else the `expires_at` the client stored in metadata, else a default lifetime per
provider. The scheduler refreshes it `REFRESH_MARGIN_SECONDS` ahead of that (`refresh_due`).

One refresh at a time per credential (Salesforce revokes a whole token chain when an old refresh
token is replayed): the lease is a conditional write on the credentials row that also returns
the row as it is now; the new tokens are written conditionally on the version read and on the
lease, which the same write releases. A holder that dies leaves a lease that expires.
"""

import json
import math
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import events, providers
from .errors import (
    ConcurrentModificationError,
    CredentialsError,
    CredentialsNotFoundError,
    DependencyError,
    NotRefreshableError,
    ProviderRejectedError,
    ProviderUnavailableError,
    ReauthorizationRequiredError,
    RefreshDeferredError,
    RefreshInProgressError,
)
from .models import (
    STATUS_ACTIVE,
    STATUS_REAUTH_REQUIRED,
    STATUS_REFRESH_FAILED,
    CredentialsResult,
    CredentialsSecret,
    CredentialsStatus,
    RefreshState,
    StoredCredentials,
    format_timestamp,
)
from .observability import logger, metrics
from .parameters import secure_parameter
from .providers import OAuthClient, PermanentRefreshError, RefreshError, TokenRefresh, TransientRefreshError
from .repository import conflict_backoff
from .settings import Settings, get_settings

if TYPE_CHECKING:
    from .service import CredentialsService

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
_POLL_SECONDS = 0.1
_STORE_ATTEMPTS = 8

Clock = Callable[[], float]
RefreshFunction = Callable[..., TokenRefresh]
# Seconds left in the invocation (Lambda's context.get_remaining_time_in_millis() / 1000).
TimeLeft = Callable[[], float]
# Slack on top of the provider deadline and the write budget before a refresh is started.
START_MARGIN_SECONDS = 1.0


def refresh_budget_seconds(settings: Settings) -> float:
    """The time a refresh needs left before it may start: the provider call's total deadline,
    storing what the provider issued, and a margin. template.yaml's timeouts, batch size and
    lease are chosen against it (tests/unit/test_budgets.py states the inequalities)."""
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
    if provider not in providers.REFRESHABLE_PROVIDERS:
        return f"provider '{provider}' has no token refresh"
    token = metadata.get("refresh_token")
    if not isinstance(token, str) or not token.strip():
        return "metadata has no refresh_token"
    return None


def lifetime(provider: str, settings: Settings) -> int:
    """Assumed access token lifetime (seconds) when neither provider nor client states one."""
    configured = settings.access_token_lifetimes.get(provider)
    return configured or DEFAULT_LIFETIMES.get(provider, FALLBACK_LIFETIME)


def scheduled_state(
    provider: str,
    secret: CredentialsSecret,
    *,
    now: float,
    settings: Settings,
    expires_in: int | None = None,
    last_refreshed_at: str | None = None,
) -> RefreshState:
    """An active credential's state: when its access token expires and when to refresh it.
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


def oauth_client(provider: str, metadata: Mapping[str, Any], settings: Settings) -> OAuthClient:
    """The OAuth app to refresh with: the credential's own (`client_id` + `client_secret` in its
    encrypted metadata), else the provider's from the secret store (an SSM SecureString named
    OAUTH_CLIENT_PARAMETER_PREFIX + provider, JSON {"client_id", "client_secret"})."""
    client_id, client_secret = metadata.get("client_id"), metadata.get("client_secret")
    if isinstance(client_id, str) and client_id.strip() and isinstance(client_secret, str) and client_secret:
        return OAuthClient(client_id.strip(), client_secret)
    prefix = settings.oauth_client_parameter_prefix
    not_configured = PermanentRefreshError(
        "oauth_client_not_configured",
        f"no OAuth client configured for provider '{provider}'",
        reconnect_required=False,
    )
    if not prefix:
        raise not_configured
    try:
        raw = secure_parameter(prefix + provider, settings.oauth_client_cache_seconds)
    except DependencyError as error:
        if error.code == "ParameterNotFound":
            raise not_configured from None
        raise
    try:
        document = json.loads(raw)
        configured = OAuthClient(str(document["client_id"]), str(document["client_secret"]))
    except (ValueError, KeyError, TypeError):
        raise PermanentRefreshError(
            "oauth_client_invalid",
            f"the OAuth client parameter of provider '{provider}' is not JSON with "
            "client_id and client_secret",
            reconnect_required=False,
        ) from None
    if not configured.client_id or not configured.client_secret:
        raise not_configured
    return configured


def refreshed_secret(secret: CredentialsSecret, token: TokenRefresh, expires: float) -> CredentialsSecret:
    """The secret after a refresh: the new access token; the new refresh token if one came (the
    stored one is kept otherwise); provider-sent metadata (instance_url, api_domain); and the
    client's own `expires_at`, when it keeps one the service can read, moved to the new expiry."""
    metadata = {**secret.metadata, **token.metadata_updates}
    if token.refresh_token:
        metadata["refresh_token"] = token.refresh_token
    if "expires_at" in metadata:
        metadata["expires_at"] = moved_expiry(metadata["expires_at"], expires)
    return CredentialsSecret(dsn=secret.dsn, access_token=token.access_token, metadata=metadata)


class TokenRefresher:
    """Refreshes one credential at a time under its lease: on demand (the API) or when due
    (the worker). Needs the credentials service for reads, decryption and encryption."""

    def __init__(
        self,
        service: "CredentialsService",
        *,
        settings: Settings | None = None,
        clock: Clock = time.time,
        refresh_function: RefreshFunction = providers.refresh,
    ) -> None:
        self._service = service
        self._repository = service.repository
        self._settings = settings or get_settings()
        self._clock = clock
        self._refresh_function = refresh_function

    # ---- entry points ------------------------------------------------------------------------

    def refresh_now(
        self, org_id: str, credentials_id: str, time_left: TimeLeft | None = None
    ) -> CredentialsResult:
        """Refresh now (a sync job just got a 401). A refresh already in flight is waited for
        and its outcome returned, never repeated; one that ended within the provider's minimum
        interval is returned as is. With `time_left`, the wait ends while a refresh still fits."""
        row = self._service.owned_row(org_id, credentials_id)
        deadline = self._clock() + self._settings.refresh_wait_seconds
        if time_left is not None:
            deadline = min(deadline, self._clock() + time_left() - refresh_budget_seconds(self._settings))
        while True:
            owner = str(uuid.uuid4())
            leased = self._acquire(row, owner)
            if leased is not None:
                return self._refresh_leased(leased, owner, on_demand=True, time_left=time_left)
            released = self._wait_for_release(row, deadline)
            if released is not None:
                return self._outcome(released)
            # The holder's lease expired (it died): take it over.

    def refresh_if_due(
        self, org_id: str, provider: str, credentials_id: str, time_left: TimeLeft | None = None
    ) -> tuple[str, CredentialsError | None]:
        """Refresh a credential the scheduler found due: an outcome word (refreshed, failed,
        skipped: not due any more or leased, gone, not_refreshable, superseded) and the error.
        Refresh failures are recorded on the credential, not raised: only DynamoDB/KMS/SSM
        outages raise, so the queue retries the message, and `RefreshDeferredError` when
        `time_left` does not cover a whole refresh (the message comes back; nothing was started)."""
        self._check_time(credentials_id, time_left)
        stub = StoredCredentials(credentials_id, org_id, provider, 0, "", "", b"")
        owner = str(uuid.uuid4())
        try:
            leased = self._acquire(stub, owner, due_by=math.floor(self._clock()))
        except CredentialsNotFoundError as error:
            return "gone", error
        if leased is None:
            return "skipped", None
        try:
            self._refresh_leased(leased, owner, on_demand=False, time_left=time_left)
        except (NotRefreshableError, CredentialsNotFoundError) as error:
            return "not_refreshable", error
        except (ReauthorizationRequiredError, ProviderRejectedError, ProviderUnavailableError) as error:
            return "failed", error
        except ConcurrentModificationError as error:
            return "superseded", error
        return "refreshed", None

    # ---- the lease ---------------------------------------------------------------------------

    def _acquire(
        self, row: StoredCredentials, owner: str, due_by: int | None = None
    ) -> StoredCredentials | None:
        now_ms = int(self._clock() * 1000)
        return self._repository.acquire_lease(
            row.org_id,
            row.provider,
            row.id,
            owner,
            now_ms=now_ms,
            lease_ms=self._settings.refresh_lease_seconds * 1000,
            due_by=due_by,
        )

    def _wait_for_release(self, row: StoredCredentials, deadline: float) -> StoredCredentials | None:
        """Poll until the holder releases (the row it left) or its lease expires (None)."""
        while True:
            current = self._repository.get_by_provider(row.org_id, row.provider)
            if current is None or current.id != row.id:
                raise CredentialsNotFoundError(credentials_id=row.id)
            if current.lease is None:
                return current
            if current.lease.until_ms < int(self._clock() * 1000):
                return None
            if self._clock() >= deadline:
                raise RefreshInProgressError(row.id)
            time.sleep(_POLL_SECONDS)

    def _outcome(self, row: StoredCredentials) -> CredentialsResult:
        """What a refresh someone else just finished means for a caller who waited for it."""
        state = row.state
        if state.status == STATUS_REAUTH_REQUIRED:
            raise ReauthorizationRequiredError(row.id, state.last_error_code or "reauth_required")
        if state.status == STATUS_REFRESH_FAILED:
            retry_after = max(1, (state.refresh_due or 0) - math.floor(self._clock()))
            raise ProviderUnavailableError(
                row.provider, state.last_error_code or "refresh_failed", retry_after
            )
        return self._service.result_of(row)

    # ---- one refresh -------------------------------------------------------------------------

    def _check_time(self, credentials_id: str, time_left: TimeLeft | None) -> None:
        """`RefreshDeferredError` unless the invocation has time for a whole refresh left."""
        if time_left is not None and time_left() < refresh_budget_seconds(self._settings):
            logger.warning("refresh deferred: not enough time left", extra={"credentials_id": credentials_id})
            metrics.add_metric(name="Refresh.deferred", unit=MetricUnit.Count, value=1)
            raise RefreshDeferredError(credentials_id)

    def _refresh_leased(
        self, row: StoredCredentials, owner: str, *, on_demand: bool, time_left: TimeLeft | None = None
    ) -> CredentialsResult:
        released = False
        try:
            if on_demand:
                if row.state.status == STATUS_REAUTH_REQUIRED:
                    raise ReauthorizationRequiredError(row.id, row.state.last_error_code or "reauth_required")
                if self._recently_refreshed(row):
                    return self._outcome(row)
            secret = self._service.decrypt(row)
            reason = not_refreshable_reason(row.provider, secret.metadata)
            if reason is not None:
                if row.state.refresh_due is not None:
                    released = True
                    self._write(row, replace(row.state, refresh_due=None), owner)
                raise NotRefreshableError(row.id, reason)
            used_refresh_token = str(secret.metadata["refresh_token"])
            try:
                client = oauth_client(row.provider, secret.metadata, self._settings)
                # Last check before the provider may rotate the refresh token: from here on, its
                # deadline and the write must fit in what is left of the invocation.
                self._check_time(row.id, time_left)
                token = self._refresh_function(
                    row.provider,
                    secret.metadata,
                    client,
                    timeout=self._settings.refresh_http_timeout_seconds,
                    dsn=secret.dsn,
                )
            except RefreshError as error:
                released = True
                raise self._record_failure(row, owner, error) from None
            released = True
            return self._store(row, owner, secret, used_refresh_token, token)
        finally:
            if not released:
                self._release(row, owner)

    def _recently_refreshed(self, row: StoredCredentials) -> bool:
        last = parse_time(row.state.last_refreshed_at)
        if last is None or row.state.status != STATUS_ACTIVE:
            return False
        interval = max(self._settings.refresh_min_interval_seconds, MIN_INTERVALS.get(row.provider, 0))
        return self._clock() - last < interval

    def _store(
        self,
        row: StoredCredentials,
        owner: str,
        secret: CredentialsSecret,
        used_refresh_token: str,
        token: TokenRefresh,
    ) -> CredentialsResult:
        """Write the new tokens on top of the latest version, unless the credential was
        reconnected meanwhile (its refresh token changed: that grant wins) or deleted.

        The provider may already have retired the refresh token this refresh presented (rotation):
        the tokens it issued are written even when the lease expired meanwhile, or another holder
        took it over, as long as the stored refresh token is still the one presented. Every write
        is conditional on the version read, so nothing newer is ever overwritten."""
        now = self._clock()
        # The new token's lifetime: the provider's, else the usual one (never an expiry the
        # client stored for the previous token).
        expires_in = token.expires_in or lifetime(row.provider, self._settings)
        holding = True
        for attempt in range(1, _STORE_ATTEMPTS + 1):
            new_secret = refreshed_secret(secret, token, now + expires_in)
            state = scheduled_state(
                row.provider,
                new_secret,
                now=now,
                settings=self._settings,
                expires_in=expires_in,
                last_refreshed_at=format_timestamp(now),
            )
            updated = self._service.new_version(row, new_secret, state)
            try:
                self._repository.replace(
                    row, updated, lease_owner=owner if holding else None, release_lease=holding
                )
            except ConcurrentModificationError:
                current = self._repository.get_by_provider(row.org_id, row.provider)
                if current is None or current.id != row.id:
                    raise CredentialsNotFoundError(credentials_id=row.id) from None
                current_secret = self._service.decrypt(current)
                if current_secret.metadata.get("refresh_token") != used_refresh_token:
                    logger.info("credentials reconnected during refresh", extra={"credentials_id": row.id})
                    self._release(current, owner)
                    return self._service.result_of(current)
                holding = current.lease is None or current.lease.owner == owner
                if not holding:
                    # This process outlived its lease: the issued tokens are still stored, on top of
                    # whatever the new holder wrote, and its lease is left alone.
                    logger.warning("refresh lease lost before the write", extra={"credentials_id": row.id})
                    metrics.add_metric(name="Refresh.lease_lost", unit=MetricUnit.Count, value=1)
                row, secret = current, current_secret
                time.sleep(conflict_backoff(attempt))
                continue
            if row.state.status != STATUS_ACTIVE:
                events.publish(events.RECOVERED, updated)
            logger.info("token refreshed", extra={"credentials_id": row.id, "provider": row.provider})
            return self._service.result_of(updated)
        # Issued tokens that could not be stored: the next refresh presents the old refresh token.
        logger.error("refreshed tokens not stored", extra={"credentials_id": row.id})
        metrics.add_metric(name="Refresh.not_stored", unit=MetricUnit.Count, value=1)
        self._release(row, owner)
        raise ConcurrentModificationError(f"credentials {row.id} kept changing during the refresh")

    def _record_failure(self, row: StoredCredentials, owner: str, error: RefreshError) -> Exception:
        """Store what went wrong and when to try again; return the error to raise."""
        now = self._clock()
        failures = row.state.failures + 1
        status: CredentialsStatus
        if isinstance(error, PermanentRefreshError) and error.reconnect_required:
            status, due = STATUS_REAUTH_REQUIRED, None
            raised: Exception = ReauthorizationRequiredError(row.id, error.code)
        else:
            transient = isinstance(error, TransientRefreshError)
            hint = error.retry_after if isinstance(error, TransientRefreshError) else None
            # A rejected client configuration is retried at the cap: an operator may fix it.
            retry_after = backoff_seconds(failures if transient else 10**6, self._settings, hint)
            status, due = STATUS_REFRESH_FAILED, math.floor(now) + retry_after
            raised = (
                ProviderUnavailableError(row.provider, error.code, retry_after)
                if transient
                else ProviderRejectedError(row.provider, error.code)
            )
        state = replace(
            row.state,
            status=status,
            last_error_code=error.code,
            last_error_message=error.message[:MAX_ERROR_MESSAGE_CHARS],
            refresh_due=due,
            failures=failures,
        )
        logger.warning(
            "token refresh failed",
            extra={"credentials_id": row.id, "provider": row.provider, "code": error.code, "status": status},
        )
        written = self._write(row, state, owner)
        if written is not None and status == STATUS_REAUTH_REQUIRED and row.state.status != status:
            events.publish(events.REAUTH_REQUIRED, written)
        return raised

    def _write(self, row: StoredCredentials, state: RefreshState, owner: str) -> StoredCredentials | None:
        """Store a new state (same secret) and release the lease; None when a concurrent writer
        (a user's PUT: its tokens supersede this outcome) or a delete got there first."""
        new = self._service.new_version(row, None, state)
        try:
            self._repository.replace(row, new, lease_owner=owner, release_lease=True)
        except (ConcurrentModificationError, CredentialsNotFoundError):
            self._release(row, owner)
            return None
        return new

    def _release(self, row: StoredCredentials, owner: str) -> None:
        try:
            self._repository.release_lease(row.org_id, row.provider, owner)
        except DependencyError:
            # The lease expires by itself; the outcome of the refresh is already decided.
            logger.warning("lease not released", extra={"credentials_id": row.id})


_refresher: TokenRefresher | None = None


def token_refresher() -> TokenRefresher:
    """The process's refresher, built on first use."""
    global _refresher
    if _refresher is None:
        from .service import credentials_service

        _refresher = TokenRefresher(credentials_service())
    return _refresher


def reset() -> None:
    """Forget the process's refresher (tests that change settings)."""
    global _refresher
    _refresher = None


class RefreshMessage(BaseModel):
    """What the scheduler enqueues for one due credential."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    org_id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    id: str = Field(min_length=1)


def refresh_queued_message(body: str, message_id: str, time_left: TimeLeft | None = None) -> str:
    """The worker's work for one SQS message: refresh if still due, audit what happened.
    Raises (so the message comes back) on DynamoDB/KMS/SSM failures and when `time_left` does
    not cover a whole refresh."""
    from .api import error_response
    from .audit import AuditRecord, note_subject
    from .auth import Principal

    try:
        message = RefreshMessage.model_validate_json(body)
    except ValidationError:
        # A message we did not write: retrying cannot help, so it is dropped (and counted).
        logger.error("refresh message rejected", extra={"message_id": message_id})
        metrics.add_metric(name="Refresh.invalid", unit=MetricUnit.Count, value=1)
        return "invalid"
    outcome, error = token_refresher().refresh_if_due(
        message.org_id, message.provider, message.id, time_left=time_left
    )
    metrics.add_metric(name=f"Refresh.{outcome}", unit=MetricUnit.Count, value=1)
    logger.info(
        "refresh outcome",
        extra={"credentials_id": message.id, "provider": message.provider, "outcome": outcome},
    )
    if outcome == "skipped":
        return outcome  # nothing happened to the credential: not an auditable action
    # The audit status is the one the refresh route answers for the same outcome.
    status = 200 if error is None else error_response(error).status_code
    note_subject(message.id, message.provider)
    record = AuditRecord(
        action="refresh",
        request_id=message_id,
        source_ip="",
        user_agent="refresh-worker",
        principal=Principal(message.org_id, "scheduler", "refresh-worker"),
    )
    if error is not None:
        record.reason = getattr(error, "code", None) or type(error).__name__
    record.emit(status)
    return outcome
