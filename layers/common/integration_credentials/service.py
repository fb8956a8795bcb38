"""What each route does, in domain terms: no HTTP, no DynamoDB item shapes."""

import random
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .audit import note_subject
from .errors import (
    ConcurrentModificationError,
    CredentialsNotFoundError,
    InvalidRequestError,
    PermissionDeniedError,
    PreconditionFailedError,
)
from .merge_patch import merge_patch
from .models import (
    CredentialsCreate,
    CredentialsResult,
    CredentialsSecret,
    CredentialsUpdate,
    StoredCredentials,
    credentials_view,
    etag_of,
    if_match_allows,
)
from .repository import CredentialsRepository, credentials_repository

if TYPE_CHECKING:
    from .crypto import CredentialsCipher

_UPDATE_ATTEMPTS = 10
_BACKOFF_CAP_SECONDS = 0.2
_TIMESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_timestamp(after: str | None = None) -> str:
    """Now, in UTC ISO 8601 with a `Z`; strictly later than `after` when given."""
    now = datetime.now(UTC)
    if after is not None:
        previous = datetime.strptime(after, _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        now = max(now, previous + timedelta(microseconds=1))
    return now.strftime(_TIMESTAMP_FORMAT)


class CredentialsService:
    """Create, read, list, update and delete an org's credentials."""

    def __init__(self, repository: CredentialsRepository, cipher: "CredentialsCipher | None" = None) -> None:
        self._repository = repository
        self._cipher_instance = cipher

    @property
    def _cipher(self) -> "CredentialsCipher":
        # Built on first use: a route that never encrypts or decrypts (delete, any 401) does not
        # import the Encryption SDK at all.
        if self._cipher_instance is None:
            from .crypto import credentials_cipher

            self._cipher_instance = credentials_cipher()
        return self._cipher_instance

    def create(self, org_id: str, request: CredentialsCreate) -> CredentialsResult:
        """Store new credentials; the provider must be free in this org."""
        now = utc_timestamp()
        row = StoredCredentials(
            id=str(uuid.uuid4()),
            org_id=org_id,
            provider=request.provider,
            version=1,
            created_at=now,
            updated_at=now,
            ciphertext=b"",
        )
        secret = CredentialsSecret(
            dsn=request.dsn, access_token=request.access_token, metadata=request.metadata
        )
        row = replace(row, ciphertext=self._cipher.encrypt(secret, row.encryption_context))
        self._repository.create(row)
        note_subject(row.id, row.provider)
        return CredentialsResult(credentials_view(row, secret), row.version)

    def get_by_provider(self, org_id: str, provider: str) -> CredentialsResult:
        """The org's credentials for one provider."""
        row = self._repository.get_by_provider(org_id, provider)
        if row is None:
            raise CredentialsNotFoundError(provider=provider)
        note_subject(row.id, row.provider)
        return self._result(row)

    def get_by_id(self, org_id: str, credentials_id: str) -> CredentialsResult:
        """Credentials by id: 403 when another org owns them, 404 when nobody does."""
        return self._result(self._owned_row(org_id, credentials_id))

    def list(
        self, org_id: str, *, limit: int | None = None, after_provider: str | None = None
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The org's credentials ordered by provider (a page of them with `limit`), and the
        provider the next page starts after, if there is one."""
        rows, next_after = self._repository.list_for_org(org_id, limit=limit, after_provider=after_provider)
        return [self._result(row).body for row in rows], next_after

    def update(
        self, org_id: str, credentials_id: str, request: CredentialsUpdate, *, if_match: str | None = None
    ) -> CredentialsResult:
        """Partial update; `metadata` is a JSON Merge Patch. Without `if_match` it retries on a
        concurrent writer, so two overlapping updates both land instead of one overwriting the
        other; with it, any other version (before or during the update) is a precondition failure."""
        if request.dsn is None and request.access_token is None and request.metadata is None:
            raise InvalidRequestError("at least one of dsn, access_token, metadata is required")
        for attempt in range(_UPDATE_ATTEMPTS):
            if attempt:
                # Full jitter, capped: overlapping writers spread out instead of colliding again.
                time.sleep(random.uniform(0, min(_BACKOFF_CAP_SECONDS, 0.01 * 2**attempt)))  # noqa: S311
            row = self._owned_row(org_id, credentials_id)
            if not if_match_allows(if_match, row.version):
                raise PreconditionFailedError(etag_of(row.version))
            current = self._cipher.decrypt(row.ciphertext, row.encryption_context)
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
            # Same id, org and provider, so the same encryption context as the row read.
            updated = replace(
                row,
                version=row.version + 1,
                updated_at=utc_timestamp(after=row.updated_at),
                ciphertext=self._cipher.encrypt(secret, row.encryption_context),
            )
            try:
                self._repository.replace(row, updated)
            except ConcurrentModificationError:
                if if_match is not None:
                    raise PreconditionFailedError(None) from None
                continue
            return CredentialsResult(credentials_view(updated, secret), updated.version)
        raise ConcurrentModificationError(f"credentials {credentials_id} are being modified concurrently")

    def delete(self, org_id: str, credentials_id: str, *, if_match: str | None = None) -> None:
        """Delete credentials by id, conditional on the row still being the one checked (and on
        its version, with `if_match`)."""
        row = self._owned_row(org_id, credentials_id)
        if not if_match_allows(if_match, row.version):
            raise PreconditionFailedError(etag_of(row.version))
        try:
            self._repository.delete(row, check_version=if_match is not None)
        except ConcurrentModificationError:
            raise PreconditionFailedError(None) from None

    def _result(self, row: StoredCredentials) -> CredentialsResult:
        secret = self._cipher.decrypt(row.ciphertext, row.encryption_context)
        return CredentialsResult(credentials_view(row, secret), row.version)

    def _owned_row(self, org_id: str, credentials_id: str) -> StoredCredentials:
        row = self._repository.get_by_id(credentials_id)
        if row is None:
            raise CredentialsNotFoundError(credentials_id=credentials_id)
        note_subject(row.id, row.provider)
        if row.org_id != org_id:
            raise PermissionDeniedError(credentials_id)
        return row


_service: CredentialsService | None = None


def credentials_service() -> CredentialsService:
    """The process's service, built on first use (so importing a handler makes no AWS client)."""
    global _service
    if _service is None:
        _service = CredentialsService(credentials_repository())
    return _service
