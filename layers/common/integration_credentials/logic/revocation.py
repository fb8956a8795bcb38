"""Revoking a deleted credential's grant at the CRM: the worker's side of `DELETE`.

The delete enqueues the message (`adapters.revocations`) before it deletes the row, so an SQS
failure deletes nothing; the worker then revokes only when the delete happened. It looks the id up:
a row with that id means the delete failed (ids are never reused, and the message waited longer
than the delete function runs), and the message is dropped. Otherwise it decrypts the message's
ciphertext under the row's encryption context and revokes the refresh token, else the access
token, with the provider's OAuth client. A transient failure (the CRM, KMS, SSM or DynamoDB) is
raised, so the message comes back and, after the queue's receive limit, lands in the dead-letter
queue; a permanent one is the outcome.
"""

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Literal

from ..adapters import providers
from ..adapters.providers import PermanentRefreshError, TransientRefreshError
from ..adapters.providers.models import OAuthClient
from ..adapters.revocations import RevokeMessage, is_revocable
from ..core.errors import CredentialsIntegrityError, ProviderRejectedError, ProviderUnavailableError
from ..core.models import CredentialsSecret
from ..core.settings import Settings, get_settings
from .credentials import CredentialsService, credentials_service
from .oauth_clients import oauth_client

RevokeFunction = Callable[..., None]
TokenKind = Literal["refresh_token", "access_token"]
# The providers' codes for a token that OAuth cannot revoke (a Pipedrive API token, a HubSpot
# private-app token): the user regenerates it in the CRM's settings.
NO_OAUTH_REVOCATION = frozenset({"not_revocable"})
Outcome = Literal["revoked", "failed", "not_deleted", "not_revocable"]


@dataclass(frozen=True)
class Revocation:
    """What one revocation did: the outcome, the token kind revoked (or tried), and the error of
    a failed one (a `ProviderRejectedError`: its code says why)."""

    outcome: Outcome
    token_kind: TokenKind | None = None
    error: ProviderRejectedError | None = None


def token_to_revoke(secret: CredentialsSecret) -> tuple[str, TokenKind] | None:
    """The refresh token (revoking it ends the grant), else the access token; None without either."""
    refresh_token = secret.metadata.get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token:
        return refresh_token, "refresh_token"
    if secret.access_token:
        return secret.access_token, "access_token"
    return None


class Revoker:
    """Revokes the grants of deleted credentials (see the module's docstring)."""

    def __init__(
        self,
        service: CredentialsService,
        *,
        settings: Settings | None = None,
        revoke_function: RevokeFunction = providers.revoke,
    ) -> None:
        self._service = service
        self._settings = settings or get_settings()
        self._revoke_function = revoke_function

    def revoke(self, message: RevokeMessage) -> Revocation:
        """Revoke the grant `message` names if its row is gone. Raises `ProviderUnavailableError`
        (the CRM failed for now) and `DependencyError` (DynamoDB, KMS, SSM): retry later."""
        if not is_revocable(message.provider):
            return Revocation("not_revocable")
        if self._service.repository.get_by_id(message.id) is not None:
            return Revocation("not_deleted")
        ciphertext = message.ciphertext_bytes()
        if ciphertext is None:
            return Revocation("failed", error=ProviderRejectedError(message.provider, "invalid_message"))
        try:
            secret = self._service.cipher.decrypt(ciphertext, message.encryption_context)
        except CredentialsIntegrityError:
            integrity = ProviderRejectedError(message.provider, "integrity_check_failed")
            return Revocation("failed", error=integrity)
        token = token_to_revoke(secret)
        if token is None:
            return Revocation("failed", error=ProviderRejectedError(message.provider, "no_token"))
        value, kind = token
        try:
            self._revoke_function(
                message.provider,
                secret.metadata,
                value,
                token_kind=kind,
                client=self._client(message.provider, secret),
                dsn=secret.dsn,
                timeout=self._settings.refresh_http_timeout_seconds,
            )
        except TransientRefreshError as error:
            retry_after = int(error.retry_after or 0)
            raise ProviderUnavailableError(message.provider, error.code, retry_after) from None
        except PermanentRefreshError as error:
            if error.code in NO_OAUTH_REVOCATION:
                # An API token or private-app token: no OAuth grant to revoke, nothing failed.
                return Revocation("not_revocable", kind)
            return Revocation("failed", kind, ProviderRejectedError(message.provider, error.code))
        return Revocation("revoked", kind)

    def _client(self, provider: str, secret: CredentialsSecret) -> OAuthClient | None:
        """The OAuth client to authenticate the revocation with, where there is one: a provider
        whose revocation needs none (Salesforce, Zoho) still revokes without it. SSM failing
        raises (retry)."""
        try:
            return oauth_client(provider, secret.metadata, self._settings)
        except PermanentRefreshError:
            return None


@cache
def revoker() -> Revoker:
    """The process's revoker."""
    return Revoker(credentials_service())
