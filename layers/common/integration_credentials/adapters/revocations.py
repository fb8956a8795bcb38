"""The revocation message: what a DELETE puts on the refresh queue so that the worker revokes the
deleted credential's grant at the CRM.

The message carries the row's ids and its ciphertext (base64), never a plaintext token: only the
worker, whose role may decrypt under the row's encryption context, can read the token, and SQS
drops the message after its retention (dead letters after theirs). It waits REVOKE_DELAY_SECONDS
before the worker sees it: longer than the delete function runs, so the worker finds the delete
that sent it done or failed, never still in flight.
"""

import base64
import binascii
from typing import TYPE_CHECKING, Final, Literal

import botocore.exceptions
from pydantic import BaseModel, ConfigDict, Field

from ..core.constants import REVOCABLE_PROVIDERS
from ..core.models import StoredCredentials
from ..core.settings import get_settings
from .aws import dependency_error_of, sqs_client

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient

REVOKE_KIND: Final = "revoke"


class RevokeMessage(BaseModel):
    """Revoke the grant of a deleted credential: its ids and ciphertext, nothing in plaintext."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    kind: Literal["revoke"]
    org_id: str = Field(min_length=1)
    provider: str = Field(min_length=1)
    id: str = Field(min_length=1)
    version: int = Field(ge=1)
    ciphertext: str = Field(min_length=1, description="The row's ciphertext, base64")

    @classmethod
    def of(cls, row: StoredCredentials) -> "RevokeMessage":
        """The message of a row about to be deleted."""
        return cls(
            kind="revoke",
            org_id=row.org_id,
            provider=row.provider,
            id=row.id,
            version=row.version,
            ciphertext=base64.b64encode(row.ciphertext).decode("ascii"),
        )

    @property
    def encryption_context(self) -> dict[str, str]:
        """The context the ciphertext was encrypted under (the row's)."""
        return {"org_id": self.org_id, "provider": self.provider, "id": self.id}

    def ciphertext_bytes(self) -> bytes | None:
        """The ciphertext, or None when it is not base64."""
        try:
            return base64.b64decode(self.ciphertext, validate=True)
        except (binascii.Error, ValueError):
            return None


def is_revocable(provider: str) -> bool:
    """Whether a provider's grants can be revoked at the CRM (Dynamics' Entra ID has no
    per-token revocation; `custom` has no known endpoint)."""
    return provider in REVOCABLE_PROVIDERS


def enqueue_revocation(row: StoredCredentials, *, sqs: "SQSClient | None" = None) -> None:
    """Put the revocation of `row`'s grant on the refresh queue; a `DependencyError` when SQS
    fails (nothing was enqueued, as far as the caller may assume)."""
    settings = get_settings()
    body = RevokeMessage.of(row).model_dump_json()
    try:
        (sqs or sqs_client()).send_message(
            QueueUrl=str(settings.refresh_queue_url),
            MessageBody=body,
            DelaySeconds=settings.revoke_delay_seconds,
        )
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        raise dependency_error_of("SQS", error) from error
