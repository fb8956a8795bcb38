"""Refreshing one credential's OAuth tokens under its lease: on demand (the API) or when due
(the worker).

One refresh at a time per credential (Salesforce revokes a whole token chain when an old refresh
token is replayed): the lease is a conditional write on the credentials row that also returns
the row as it is now; the new tokens are written conditionally on the version read and on the
lease, which the same write releases. A holder that dies leaves a lease that expires.

Longer than 300 lines: taking the lease, waiting for another holder, storing what the provider
issued and recording a failure are one protocol, and read best in one place.
"""

import math
import time
import uuid
from collections.abc import Callable
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from ..adapters import events, providers
from ..adapters.audit import Audit
from ..adapters.observability import logger, metrics
from ..adapters.providers import (
    PermanentRefreshError,
    RefreshError,
    TokenRefresh,
    TransientRefreshError,
)
from ..adapters.storage.dynamodb import conflict_backoff
from ..adapters.storage.leases import RefreshLeases, refresh_leases
from ..core.errors import (
    ConcurrentModificationError,
    CredentialsError,
    CredentialsNotFoundError,
    NotRefreshableError,
    ProviderRejectedError,
    ProviderUnavailableError,
    ReauthorizationRequiredError,
    RefreshDeferredError,
    RefreshInProgressError,
)
from ..core.models import (
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
from ..core.settings import Settings, get_settings
from ..policy.schedule import (
    MAX_ERROR_MESSAGE_CHARS,
    backoff_seconds,
    lifetime,
    not_refreshable_reason,
    recently_refreshed,
    refresh_budget_seconds,
    refreshed_secret,
    scheduled_state,
    verified_by_schedule,
)
from .credentials import CredentialsService, credentials_service
from .oauth_clients import oauth_client

_POLL_SECONDS = 0.1
_STORE_ATTEMPTS = 8

Clock = Callable[[], float]
RefreshFunction = Callable[..., TokenRefresh]
# Seconds left for the AWS calls of the invocation (`adapters.budget.seconds_left`).
TimeLeft = Callable[[], float]


class TokenRefresher:
    """Refreshes one credential at a time under its lease: on demand (the API) or when due
    (the worker). Needs the credentials service for reads, decryption and encryption."""

    def __init__(
        self,
        service: CredentialsService,
        *,
        leases: RefreshLeases | None = None,
        settings: Settings | None = None,
        clock: Clock = time.time,
        refresh_function: RefreshFunction = providers.refresh,
    ) -> None:
        self._service = service
        self._repository = service.repository
        self._leases = leases or refresh_leases()
        self._settings = settings or get_settings()
        self._clock = clock
        self._refresh_function = refresh_function

    # ---- entry points ------------------------------------------------------------------------

    def refresh_now(
        self, org_id: str, credentials_id: str, time_left: TimeLeft | None = None, *, audit: Audit = None
    ) -> CredentialsResult:
        """Refresh now (a sync job just got a 401). A refresh already in flight is waited for
        and its outcome returned, never repeated; one that ended within the provider's minimum
        interval is returned as is. With `time_left`, the wait ends while a refresh still fits."""
        row = self._service.owned_row(org_id, credentials_id, audit=audit)
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
        skipped: not due any more or leased, gone, not_refreshable, superseded; verify: one the
        scheduler verifies instead, left due and unleased) and the error.
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
        except NotRefreshableError as error:
            return ("verify" if error.verified_by_schedule else "not_refreshable"), error
        except CredentialsNotFoundError as error:
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
        return self._leases.acquire(
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
                if recently_refreshed(row, now=self._clock(), settings=self._settings):
                    return self._outcome(row)
            secret = self._service.decrypt(row)
            reason = not_refreshable_reason(row.provider, secret.metadata)
            if reason is not None:
                # A credential verified by schedule keeps its due time: a verification's.
                verified = verified_by_schedule(row.provider, secret.metadata)
                if row.state.refresh_due is not None and not verified:
                    released = True
                    self._write(row, row.state.replace(refresh_due=None), owner)
                raise NotRefreshableError(row.id, reason, verified_by_schedule=verified)
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
                self._leases.let_go(row, owner)

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
                    self._leases.let_go(current, owner)
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
        self._leases.let_go(row, owner)
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
        state = row.state.replace(
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
        if isinstance(raised, ProviderRejectedError):
            # Our OAuth client's configuration, not the customer's grant: an operator must act.
            metrics.add_metric(name="ProviderClientRejected", unit=MetricUnit.Count, value=1)
        written = self._write(row, state, owner)
        if written is not None and status == STATUS_REAUTH_REQUIRED and row.state.status != status:
            # Alarmed on as a wave (template.yaml): many grants dying at once is rarely the customers.
            metrics.add_metric(name="ReauthorizationRequired", unit=MetricUnit.Count, value=1)
            events.publish(events.REAUTH_REQUIRED, written)
        return raised

    def _write(self, row: StoredCredentials, state: RefreshState, owner: str) -> StoredCredentials | None:
        """Store a new state (same secret) and release the lease; None when a concurrent writer
        (a user's PUT: its tokens supersede this outcome) or a delete got there first."""
        new = self._service.new_version(row, None, state)
        try:
            self._repository.replace(row, new, lease_owner=owner, release_lease=True)
        except (ConcurrentModificationError, CredentialsNotFoundError):
            self._leases.let_go(row, owner)
            return None
        return new


@cache
def token_refresher() -> TokenRefresher:
    """The process's refresher."""
    return TokenRefresher(credentials_service())
