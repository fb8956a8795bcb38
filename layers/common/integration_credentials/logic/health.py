"""Verifying credentials against their CRM: on demand (`POST .../{id}/verify`), before a create
(`?verify=true`), and on a schedule for the credentials no refresh touches (the refresh worker).

The CRM's identity call, made with the stored token, names the account the token belongs to:
- it answers: the account and `verified_at` are stored (a conditional write on the version read);
  another account than the one stored publishes Account Changed;
- it refuses the token (401/403): an OAuth credential is refreshed once (the refresh route's
  single flight) and asked again; a token still refused, or one no refresh can renew, is
  `reauth_required` (the check succeeded, its answer is bad news);
- it fails otherwise (5xx, 429, a timeout, an answer naming no account): `last_error` says so and
  `status` is unchanged, since a CRM being down says nothing about the grant.
Status changes publish Reauthorization Required or Recovered, as a refresh does; a verification
that changes nothing publishes nothing.

Longer than 300 lines: the route's check, the scheduled one and the check before a create share
one way of asking the CRM and of reading its answer, which read best beside each other.
"""

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit

from ..adapters import events, providers
from ..adapters.audit import Audit
from ..adapters.observability import logger, metrics
from ..adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    RefreshError,
    TokenRejectedError,
    TransientRefreshError,
)
from ..adapters.storage.leases import RefreshLeases, refresh_leases
from ..core.constants import IDENTIFIABLE_PROVIDERS
from ..core.errors import (
    ConcurrentModificationError,
    CredentialsNotFoundError,
    CrmIdentityError,
    CrmRejectedCredentialsError,
    CrmUnavailableError,
    InvalidRequestError,
    NotVerifiableError,
    ProviderUnavailableError,
    ReauthorizationRequiredError,
    RefreshDeferredError,
)
from ..core.models import (
    STATUS_ACTIVE,
    STATUS_REAUTH_REQUIRED,
    Account,
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
    next_verification,
    not_refreshable_reason,
    refresh_budget_seconds,
    verified_by_schedule,
)
from .credentials import CredentialsService, credentials_service
from .oauth_clients import oauth_client, own_client
from .refresh import Clock, TimeLeft, TokenRefresher, token_refresher

# `adapters.providers.identify`'s signature: (provider, metadata, access_token, *, client, dsn,
# api_url, timeout) -> Account.
IdentifyFunction = Callable[..., Account]

_STORE_ATTEMPTS = 5


@dataclass(frozen=True)
class Answer:
    """What the CRM's identity call said of one access token: an account, or the error."""

    account: Account | None = None
    error: RefreshError | None = None

    @property
    def rejected(self) -> bool:
        """The CRM refused the token itself."""
        return isinstance(self.error, TokenRejectedError)


class CredentialsVerifier:
    """Asks the CRM which account a credential's token belongs to, and records the answer."""

    def __init__(
        self,
        service: CredentialsService,
        refresher: TokenRefresher,
        *,
        leases: RefreshLeases | None = None,
        settings: Settings | None = None,
        clock: Clock = time.time,
        identify_function: IdentifyFunction | None = None,
    ) -> None:
        self._service = service
        self._repository = service.repository
        self._refresher = refresher
        self._leases = leases or refresh_leases()
        self._settings = settings or get_settings()
        self._clock = clock
        # None: `providers.identify`, looked up at each call.
        self._identify_function = identify_function

    # ---- entry points ------------------------------------------------------------------------

    def verify_now(
        self, org_id: str, credentials_id: str, time_left: TimeLeft | None = None, *, audit: Audit = None
    ) -> CredentialsResult:
        """Verify the credential now (the route): 409 `NotVerifiableError` for a provider without
        an identity call; otherwise the credential as the verification left it."""
        row = self._service.owned_row(org_id, credentials_id, audit=audit)
        if row.provider not in IDENTIFIABLE_PROVIDERS:
            raise NotVerifiableError(row.id, f"provider '{row.provider}' has no identity call")
        answers: dict[str, Answer] = {}
        refreshed = False
        for _attempt in range(_STORE_ATTEMPTS):
            secret = self._service.decrypt(row)
            answer = answers.get(secret.access_token)
            if answer is None:
                answer = answers[secret.access_token] = self._ask(row, secret, time_left)
            if answer.rejected and not refreshed and self._may_refresh(row, secret):
                refreshed = True
                row = self._refresh(org_id, row, time_left, audit)
                if row.state.status != STATUS_ACTIVE:
                    return self._service.result_of(row)  # the refresh failed and recorded why
                continue
            try:
                return self._service.result_of(self._record(row, answer, secret))
            except ConcurrentModificationError:
                # A PUT, a refresh or another verification wrote meanwhile: the answer still
                # holds for the same token; a new token is asked about anew.
                row = self._reread(row)
        raise ConcurrentModificationError(f"credentials {row.id} kept changing during the verification")

    def verify_if_due(
        self, org_id: str, provider: str, credentials_id: str, time_left: TimeLeft | None = None
    ) -> tuple[str, str | None]:
        """Verify a credential the scheduler found due (one no refresh touches): an outcome word
        (verified, rejected, unavailable, skipped: not due any more or leased, gone, superseded)
        and the CRM's error code. Only DynamoDB/KMS outages raise (the message comes back), and
        `RefreshDeferredError` when `time_left` does not cover a whole verification."""
        if time_left is not None and time_left() < refresh_budget_seconds(self._settings):
            raise RefreshDeferredError(credentials_id)
        owner = str(uuid.uuid4())
        try:
            row = self._leases.acquire(
                org_id,
                provider,
                credentials_id,
                owner,
                now_ms=int(self._clock() * 1000),
                lease_ms=self._settings.refresh_lease_seconds * 1000,
                due_by=math.floor(self._clock()),
            )
        except CredentialsNotFoundError:
            return "gone", None
        if row is None:
            return "skipped", None
        released = False
        try:
            secret = self._service.decrypt(row)
            if not verified_by_schedule(row.provider, secret.metadata):
                return "skipped", None  # a PUT made it refreshable meanwhile: a refresh's now
            answer = self._ask(row, secret, time_left)
            try:
                self._record(row, answer, secret, lease_owner=owner)
            except (ConcurrentModificationError, CredentialsNotFoundError):
                return "superseded", None
            released = True
        finally:
            if not released:
                self._leases.let_go(row, owner)
        if answer.error is None:
            return "verified", None
        return ("rejected" if answer.rejected else "unavailable"), answer.error.code

    # ---- asking the CRM ----------------------------------------------------------------------

    def _identify(self) -> IdentifyFunction:
        return self._identify_function or providers.identify

    def _ask(self, row: StoredCredentials, secret: CredentialsSecret, time_left: TimeLeft | None) -> Answer:
        """The CRM's answer about the secret's access token (never raised: recorded)."""
        timeout = self._settings.refresh_http_timeout_seconds
        if time_left is not None:
            # What is left after the write that records the answer.
            timeout = min(timeout, time_left() - self._settings.refresh_write_budget_seconds)
            if timeout <= 0:
                raise RefreshDeferredError(row.id)
        try:
            account = self._identify()(
                row.provider,
                secret.metadata,
                secret.access_token,
                client=identity_client(row.provider, secret.metadata, self._settings),
                dsn=secret.dsn,
                timeout=timeout,
            )
        except RefreshError as error:
            logger.info(
                "verification failed",
                extra={"credentials_id": row.id, "provider": row.provider, "code": error.code},
            )
            return Answer(error=error)
        return Answer(account=account)

    def _may_refresh(self, row: StoredCredentials, secret: CredentialsSecret) -> bool:
        return (
            row.state.status != STATUS_REAUTH_REQUIRED
            and not_refreshable_reason(row.provider, secret.metadata) is None
        )

    def _refresh(
        self, org_id: str, row: StoredCredentials, time_left: TimeLeft | None, audit: Audit
    ) -> StoredCredentials:
        """Refresh once (single flight with the refresh route and the worker); the row after it.
        A dead grant or a provider outage is recorded by the refresher (status, last_error and
        its event) and read back here."""
        with contextlib.suppress(ReauthorizationRequiredError, ProviderUnavailableError):
            self._refresher.refresh_now(org_id, row.id, time_left, audit=audit)
        return self._reread(row)

    def _reread(self, row: StoredCredentials) -> StoredCredentials:
        current = self._repository.get_by_provider(row.org_id, row.provider)
        if current is None or current.id != row.id:
            raise CredentialsNotFoundError(credentials_id=row.id)
        return current

    # ---- recording the answer ----------------------------------------------------------------

    def _record(
        self,
        row: StoredCredentials,
        answer: Answer,
        secret: CredentialsSecret,
        *,
        lease_owner: str | None = None,
    ) -> StoredCredentials:
        """Write what the answer means on top of `row` (conditional on its version; with
        `lease_owner`, also releasing that lease) and publish what changed."""
        now = self._clock()
        scheduled = verified_by_schedule(row.provider, secret.metadata)
        state, account, verified_at = row.state, row.account, row.verified_at
        if answer.account is not None:
            account, verified_at = answer.account, format_timestamp(now)
            if scheduled or state.status == STATUS_ACTIVE:
                # Nothing a refresh recorded is cleared: only a verification's own failure, or the
                # dead grant of a credential that only a verification can find alive again.
                state = state.replace(status=STATUS_ACTIVE, last_error_code=None, last_error_message=None)
            if scheduled:
                interval = self._settings.verify_interval_seconds
                due = next_verification(row.id, now=now, interval=interval)
                state = state.replace(refresh_due=due, failures=0)
        elif answer.rejected:
            assert answer.error is not None
            state = self._failed(state, answer.error, STATUS_REAUTH_REQUIRED, due=None)
        else:
            assert answer.error is not None
            retry_at = state.refresh_due
            if scheduled and lease_owner is not None:
                # Retried like a refresh that failed transiently: backed off, capped.
                hint = answer.error.retry_after if isinstance(answer.error, TransientRefreshError) else None
                retry_at = math.floor(now) + backoff_seconds(state.failures + 1, self._settings, hint)
            state = self._failed(
                state, answer.error, state.status, due=retry_at, count=lease_owner is not None
            )
        updated = self._service.new_version(row, None, state).replace(
            account=account, verified_at=verified_at
        )
        self._repository.replace(row, updated, lease_owner=lease_owner, release_lease=lease_owner is not None)
        self._publish(row, updated)
        return updated

    def _failed(
        self,
        state: RefreshState,
        error: RefreshError,
        status: CredentialsStatus,
        *,
        due: int | None,
        count: bool = True,
    ) -> RefreshState:
        return state.replace(
            status=status,
            last_error_code=error.code,
            last_error_message=error.message[:MAX_ERROR_MESSAGE_CHARS],
            refresh_due=due,
            failures=state.failures + 1 if count else state.failures,
        )

    def _publish(self, before: StoredCredentials, after: StoredCredentials) -> None:
        if before.state.status != after.state.status:
            if after.state.status == STATUS_REAUTH_REQUIRED:
                metrics.add_metric(name="ReauthorizationRequired", unit=MetricUnit.Count, value=1)
                events.publish(events.REAUTH_REQUIRED, after)
            elif after.state.status == STATUS_ACTIVE:
                events.publish(events.RECOVERED, after)
        if before.account is not None and after.account is not None and before.account.id != after.account.id:
            metrics.add_metric(name="AccountChanged", unit=MetricUnit.Count, value=1)
            events.publish(
                events.ACCOUNT_CHANGED,
                after,
                {"account": after.account.as_json(), "previous_account": before.account.as_json()},
            )


def identity_client(
    provider: str, metadata: Mapping[str, Any], settings: Settings | None
) -> OAuthClient | None:
    """The OAuth app an identity call may need (HubSpot's token introspection takes the app's
    client id and secret), for an OAuth grant (one with a refresh token): the credential's own,
    else (given `settings`) the provider's from the secret store; None for an API key or token,
    or where no client is configured."""
    if not_refreshable_reason(provider, metadata) is not None:
        return None
    if settings is None:
        return own_client(metadata)
    try:
        return oauth_client(provider, metadata, settings)
    except PermanentRefreshError:
        return None


def verify_new(
    provider: str,
    secret: CredentialsSecret,
    *,
    settings: Settings | None = None,
    identify_function: IdentifyFunction | None = None,
) -> tuple[Account, str]:
    """Check credentials about to be created (`?verify=true`): the account and the time of the
    check, else the error that makes the create fail with nothing stored (a token the CRM
    refuses is 400; a CRM that is down is 503; an answer naming no account is 502)."""
    if provider not in IDENTIFIABLE_PROVIDERS:
        raise InvalidRequestError(f"verify: provider '{provider}' has no identity call to verify against")
    settings = settings or get_settings()
    identify = identify_function or providers.identify
    try:
        account = identify(
            provider,
            secret.metadata,
            secret.access_token,
            # The credential's own OAuth app only: a create never reads the apps' client secrets.
            client=identity_client(provider, secret.metadata, None),
            dsn=secret.dsn,
            timeout=settings.refresh_http_timeout_seconds,
        )
    except TokenRejectedError as error:
        raise CrmRejectedCredentialsError(error.code, error.message) from None
    except TransientRefreshError as error:
        retry_after = math.ceil(error.retry_after) if error.retry_after else 1
        raise CrmUnavailableError(provider, error.code, max(1, retry_after)) from None
    except PermanentRefreshError as error:
        raise CrmIdentityError(provider, error.code) from None
    return account, format_timestamp(time.time())


@cache
def credentials_verifier() -> CredentialsVerifier:
    """The process's verifier (it refreshes through the process's refresher)."""
    return CredentialsVerifier(credentials_service(), token_refresher())
