"""What each route does, in domain terms: no HTTP, no DynamoDB item shapes.

Every method that acts on one credential takes the request's `audit` record (optional) and
names the credential on it, so the audit trail says which one was read, changed or refused.

Longer than 300 lines: one service for the six routes and the connect flow's writes, so that every
write of a row goes through the same conditional replace and retry, with one ownership check, one
version retry and one way of naming what the audit record says."""

import random
import time
import uuid
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from ..adapters import events
from ..adapters.audit import Audit
from ..adapters.observability import report_integrity_failure
from ..adapters.storage.credentials import CredentialsRepository, credentials_repository
from ..core.errors import (
    ConcurrentModificationError,
    CredentialsNotFoundError,
    InvalidRequestError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from ..core.models import (
    STATUS_ACTIVE,
    Account,
    CredentialsResult,
    CredentialsSecret,
    RefreshState,
    StoredCredentials,
    body_secret,
    credentials_view,
    etag_of,
    if_match_allows,
    utc_timestamp,
)
from ..core.settings import get_settings
from ..core.validation import metadata_problem
from ..policy.account_pinning import NewGrantIdentity, pin_account
from ..policy.merge_patch import merge_patch
from ..policy.schedule import scheduled_state, state_after_update

if TYPE_CHECKING:
    from ..adapters.crypto.cipher import CredentialsCipher
    from ..core.bodies.create import CredentialsCreate
    from ..core.bodies.update import CredentialsUpdate

_UPDATE_ATTEMPTS = 10
_BACKOFF_CAP_SECONDS = 0.2


class CredentialsService:
    """Create, read, list, update and delete an org's credentials."""

    def __init__(
        self,
        repository: CredentialsRepository,
        cipher: "CredentialsCipher | None" = None,
        *,
        enqueue_revocation: Callable[[StoredCredentials], None] | None = None,
    ) -> None:
        self._repository = repository
        self._cipher_instance = cipher
        self._enqueue_revocation = enqueue_revocation

    @property
    def repository(self) -> CredentialsRepository:
        """The repository this service reads and writes through."""
        return self._repository

    @property
    def cipher(self) -> "CredentialsCipher":
        """The cipher of the credentials' secrets (the connect flow encrypts its states with it)."""
        return self._cipher

    @property
    def _cipher(self) -> "CredentialsCipher":
        # Built on first use: a route that never encrypts or decrypts (delete, any 401) does not
        # import the Encryption SDK at all.
        if self._cipher_instance is None:
            from ..adapters.crypto.cipher import credentials_cipher

            self._cipher_instance = credentials_cipher()
        return self._cipher_instance

    def create(
        self,
        org_id: str,
        request: "CredentialsCreate",
        *,
        audit: Audit = None,
        event: str | None = None,
        idempotency_hmac: str | None = None,
        verified: tuple[Account, str] | None = None,
    ) -> CredentialsResult:
        """Store new credentials; the provider must be free in this org. `event` (a detail type of
        `events`) is published once they are stored. `idempotency_hmac` marks the row as the one
        this Idempotency-Key request created (`created_by`). `verified`: the CRM account and the
        time a check before the create found (`?verify=true`)."""
        now = utc_timestamp()
        row = StoredCredentials(
            id=str(uuid.uuid4()),
            org_id=org_id,
            provider=request.provider,
            version=1,
            created_at=now,
            updated_at=now,
            ciphertext=b"",
            idempotency_hmac=idempotency_hmac,
            account=verified[0] if verified else None,
            verified_at=verified[1] if verified else None,
        )
        secret = body_secret(request)
        row = row.replace(
            ciphertext=self._cipher.encrypt(secret, row.encryption_context),
            state=scheduled_state(
                row.provider, secret, now=time.time(), settings=get_settings(), credentials_id=row.id
            ),
        )
        self._repository.create(row, limit=get_settings().max_credentials_per_org)
        _acted_on(audit, row)
        if event is not None:
            events.publish(event, row)
        return CredentialsResult(credentials_view(row, secret), row.version)

    def get_by_provider(self, org_id: str, provider: str, *, audit: Audit = None) -> CredentialsResult:
        """The org's credentials for one provider."""
        row = self._repository.get_by_provider(org_id, provider)
        if row is not None and (row.org_id != org_id or row.provider != provider):
            report_integrity_failure("a row read for one org and provider names another", row.id)
            row = None
        if row is None:
            raise CredentialsNotFoundError(provider=provider)
        _acted_on(audit, row)
        return self.result_of(row)

    def created_by(
        self, org_id: str, provider: str, idempotency_hmac: str, *, since: str, audit: Audit = None
    ) -> CredentialsResult | None:
        """The org's credentials for `provider` if the Idempotency-Key request `idempotency_hmac`
        created them at or after `since` (a timestamp); None otherwise."""
        row = self._repository.get_by_provider(org_id, provider)
        if row is None or row.org_id != org_id or row.provider != provider:
            return None
        if row.idempotency_hmac != idempotency_hmac or row.created_at < since:
            return None
        _acted_on(audit, row)
        return self.result_of(row)

    def get_by_id(self, org_id: str, credentials_id: str, *, audit: Audit = None) -> CredentialsResult:
        """Credentials by id: 403 when another org owns them, 404 when nobody does."""
        return self.result_of(self.owned_row(org_id, credentials_id, audit=audit))

    def list(
        self, org_id: str, *, limit: int | None = None, after_provider: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The org's credentials ordered by provider (a page of them with `limit`), and the
        provider the next page starts after, if there is one."""
        rows, next_after = self._repository.list_for_org(org_id, limit=limit, after_provider=after_provider)
        bodies = []
        for row in rows:
            if row.org_id != org_id:
                report_integrity_failure("a listed row is another org's", row.id)
                continue
            bodies.append(self.result_of(row).body)
        return bodies, next_after

    def update(
        self,
        org_id: str,
        credentials_id: str,
        request: "CredentialsUpdate",
        *,
        if_match: str | None = None,
        audit: Audit = None,
        provider: str | None = None,
        reconnect: bool = False,
        identity: NewGrantIdentity | None = None,
        allow_account_change: bool = False,
    ) -> CredentialsResult:
        """Partial update; `metadata` is a JSON Merge Patch. Without `if_match` it retries on a
        concurrent writer, so two overlapping updates both land instead of one overwriting the
        other; with it, any other version (before or during the update) is a precondition failure.
        With `provider`, credentials of another provider are not found. `reconnect` (the connect
        flow's new grant) publishes the recovered event whatever the status was. `identity` (the
        connect flow's, of the new tokens) is checked against the account of the row each attempt
        replaces (`policy.account_pinning`: another account is refused unless
        `allow_account_change`, and such a change is audited and published)."""
        if request.dsn is None and request.access_token is None and request.metadata is None:
            raise InvalidRequestError("at least one of dsn, access_token, metadata is required")
        if_match = _precondition(if_match)
        for attempt in range(_UPDATE_ATTEMPTS):
            if attempt:
                # Full jitter, capped: overlapping writers spread out instead of colliding again.
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, 0.01 * 2**attempt)))  # noqa: S311
            row = self.owned_row(org_id, credentials_id, audit=audit)
            if provider is not None and row.provider != provider:
                raise CredentialsNotFoundError(credentials_id=credentials_id)
            if not if_match_allows(if_match, row.version):
                raise PreconditionFailedError(etag_of(row.version))
            # Checked against the very row the conditional replace below expects, before any KMS
            # call: of two reconnects racing to different accounts, the second sees the first's.
            pinned = (
                pin_account(row.id, row.account, row.verified_at, identity, allow_change=allow_account_change)
                if identity is not None
                else None
            )
            current = self.decrypt(row)
            secret = CredentialsSecret(
                dsn=request.dsn if request.dsn is not None else current.dsn,
                access_token=request.access_token
                if request.access_token is not None
                else current.access_token,
                metadata=(
                    merge_patch(current.metadata, request.metadata)
                    if request.metadata is not None
                    else current.metadata
                ),
            )
            if request.metadata is not None:
                # The patch was checked; the merged whole must be within the bounds too (keys).
                problem = metadata_problem(secret.metadata)
                if problem is not None:
                    raise InvalidRequestError(problem)
            state = state_after_update(row, current, secret, now=time.time(), settings=get_settings())
            updated = self.new_version(row, secret, state)
            if pinned is not None:
                updated = updated.replace(account=pinned.account, verified_at=pinned.verified_at)
            try:
                self._repository.replace(row, updated)
            except ConcurrentModificationError:
                if if_match is not None:
                    raise PreconditionFailedError(None) from None
                continue
            if reconnect or (row.state.status != STATUS_ACTIVE and updated.state.status == STATUS_ACTIVE):
                events.publish(events.RECOVERED, updated)
            if pinned is not None and pinned.changed:
                _account_changed(audit, row, updated)
            return CredentialsResult(credentials_view(updated, secret), updated.version)
        raise ConcurrentModificationError(f"credentials {credentials_id} are being modified concurrently")

    def delete(
        self,
        org_id: str,
        credentials_id: str,
        *,
        if_match: str | None = None,
        audit: Audit = None,
        revoke: bool = True,
    ) -> None:
        """Delete credentials by id, conditional on the row still being the one checked (and on
        its version, with `if_match`). With `revoke` (and a provider that can revoke), the
        revocation of the grant at the CRM is enqueued first, holding the row's ciphertext: an
        SQS failure deletes nothing, and the row is then deleted only at the version enqueued,
        so the worker revokes the tokens that were deleted (it revokes only once the row is
        gone, `logic.revocation`)."""
        # DELETE alone sends revocations: the delete function loads their message model at init,
        # the other routes never build it.
        from ..adapters.revocations import enqueue_revocation, is_revocable

        enqueue = self._enqueue_revocation or enqueue_revocation
        if_match = _precondition(if_match)
        for attempt in range(_UPDATE_ATTEMPTS):
            if attempt:
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, 0.01 * 2**attempt)))  # noqa: S311
            row = self.owned_row(org_id, credentials_id, audit=audit)
            if not if_match_allows(if_match, row.version):
                raise PreconditionFailedError(etag_of(row.version))
            revoking = revoke and is_revocable(row.provider)
            if revoking:
                enqueue(row)
            try:
                self._repository.delete(row, check_version=revoking or if_match is not None)
            except ConcurrentModificationError:
                if if_match is not None or not revoking:
                    raise PreconditionFailedError(None) from None
                # A refresh or an update wrote a new version since the read: the message holds
                # the old tokens (its worker finds the row gone and revokes them too), so enqueue
                # the new ones and delete at their version.
                continue
            _audit_revocation(audit, "queued" if revoking else "unsupported" if revoke else "not_requested")
            return
        raise ConcurrentModificationError(f"credentials {credentials_id} are being modified concurrently")

    def decrypt(self, row: StoredCredentials) -> CredentialsSecret:
        """The secret of a row, checked against the row's encryption context."""
        return self._cipher.decrypt(row.ciphertext, row.encryption_context)

    def new_version(
        self, row: StoredCredentials, secret: CredentialsSecret | None, state: RefreshState
    ) -> StoredCredentials:
        """The next version of `row`: `secret` encrypted (None keeps the ciphertext) and `state`."""
        # Same id, org and provider, so the same encryption context as the row read.
        ciphertext = (
            row.ciphertext if secret is None else self._cipher.encrypt(secret, row.encryption_context)
        )
        return row.replace(
            version=row.version + 1,
            updated_at=utc_timestamp(after=row.updated_at),
            ciphertext=ciphertext,
            state=state,
            lease=None,
        )

    def result_of(self, row: StoredCredentials) -> CredentialsResult:
        """The public object of a row, at the row's version."""
        return CredentialsResult(credentials_view(row, self.decrypt(row)), row.version)

    def owned_row(self, org_id: str, credentials_id: str, *, audit: Audit = None) -> StoredCredentials:
        """A row by id: 403 when another org owns it, 404 when nobody does (the audit names the
        row either way)."""
        # The repository returns only a row that holds this id (a mirror naming another is
        # reported there).
        row = self._repository.get_by_id(credentials_id)
        if row is None:
            raise CredentialsNotFoundError(credentials_id=credentials_id)
        _acted_on(audit, row)
        if row.org_id != org_id:
            raise PermissionDeniedError(credentials_id)
        return row


def _precondition(if_match: str | None) -> str | None:
    """An empty If-Match names no precondition, as an absent one."""
    return if_match if if_match is not None and if_match.strip() else None


def _account_changed(audit: Audit, before: StoredCredentials, after: StoredCredentials) -> None:
    """Audit and publish a move to another CRM account (account ids are no secret)."""
    if audit is not None:
        audit.extra["account_changed"] = True
        audit.extra["previous_account_id"] = before.account.id if before.account else None
    events.publish(events.ACCOUNT_CHANGED, after)


def _audit_revocation(audit: Audit, outcome: str) -> None:
    """Say on a delete's audit record what happens to the grant at the CRM: `queued` (the worker
    revokes it), `not_requested` (`?revoke=false`) or `unsupported` (the provider cannot)."""
    if audit is not None:
        audit.extra["revocation"] = outcome


def _acted_on(audit: Audit, row: StoredCredentials) -> None:
    if audit is not None:
        audit.acted_on(row.id, row.provider)


@cache
def credentials_service() -> CredentialsService:
    """The process's service, built on first use (so importing a handler makes no AWS client)."""
    return CredentialsService(credentials_repository())
