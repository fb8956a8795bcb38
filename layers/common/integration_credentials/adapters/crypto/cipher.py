"""Envelope encryption of the secret part of a credential with the AWS Encryption SDK.

One KMS data key per write (the context holds the credential id), a committing non-signing
suite, and a local data-key cache used for decrypt as well as encrypt: warm reads of the same
credential make no KMS call.

Warm reads skip the Encryption SDK altogether: a message this process has encrypted or verified
is remembered (`verified.VerifiedPlaintexts`) for as long as its data key is
(`DATA_KEY_CACHE_SECONDS`), bound to the row's encryption context.
"""

import json
import threading
from functools import cache
from typing import Any

import aws_encryption_sdk
import botocore.exceptions
from aws_encryption_sdk import Algorithm, CommitmentPolicy
from aws_encryption_sdk.caches.local import LocalCryptoMaterialsCache
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager
from cryptography.exceptions import InvalidTag

from ...core.errors import CredentialsIntegrityError, DependencyError, DependencyMisconfiguredError
from ...core.models import CredentialsSecret
from ...core.settings import get_settings
from ...core.validation import JsonRuleError, strict_json_loads
from ..aws import botocore_session, dependency_error, dependency_error_of
from .verified import VerifiedPlaintexts

ALGORITHM = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
# KMS answers that mean "this ciphertext is not ours to decrypt", not an outage or a bad deployment.
_FOREIGN_CIPHERTEXT_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})


class _KmsCalls(threading.local):
    """The KMS failures seen by this thread while `failures` is a list. The SDK folds every
    KMS failure on decrypt into one `DecryptKeyError` and drops its cause, so the cipher hears
    what KMS answered from botocore's call events instead."""

    failures: list[DependencyError] | None = None


_kms_calls = _KmsCalls()


def _on_kms_call(
    http_response: Any = None, parsed: Any = None, exception: BaseException | None = None, **_: Any
) -> None:
    failures = _kms_calls.failures
    if failures is None:
        return
    if exception is not None:
        failures.append(dependency_error_of("KMS", exception))
    elif http_response is not None and http_response.status_code >= 300:
        code = str(((parsed or {}).get("Error") or {}).get("Code", "KMSError"))
        failures.append(dependency_error("KMS", code, http_response.status_code))


class CredentialsCipher:
    """Encrypts and decrypts `CredentialsSecret` under one KMS key, bound to an encryption context."""

    def __init__(self, kms_key_arn: str, *, cache_seconds: float, cache_capacity: int) -> None:
        session = botocore_session()
        # Before the SDK makes its KMS client: a client copies the session's handlers when made.
        session.register("after-call.kms", _on_kms_call, unique_id="credentials-cipher-kms")
        session.register("after-call-error.kms", _on_kms_call, unique_id="credentials-cipher-kms-error")
        # The KMS client is made now, in the thread that builds the cipher, not on first use: the
        # refresh worker's threads share the cipher, and making a client is not thread-safe.
        region = kms_key_arn.split(":")[3] if kms_key_arn.count(":") >= 5 else None
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[kms_key_arn], botocore_session=session, region_names=[region] if region else []
        )
        self._data_keys = LocalCryptoMaterialsCache(cache_capacity)
        self._materials = CachingCryptoMaterialsManager(
            master_key_provider=provider,
            cache=self._data_keys,
            max_age=cache_seconds,
            max_messages_encrypted=100,
        )
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self._verified = VerifiedPlaintexts(cache_seconds, cache_capacity)

    def clear_caches(self) -> None:
        """Forget every cached data key and remembered plaintext: the next decrypt of each message
        goes through the SDK (and KMS), the next encrypt asks KMS for a data key."""
        self._data_keys.clear()
        self._verified.clear()

    def encrypt(self, secret: CredentialsSecret, context: dict[str, str]) -> bytes:
        """Encrypt the secret fields; a `DependencyError` when KMS fails."""
        return self.encrypt_document(
            {"dsn": secret.dsn, "access_token": secret.access_token, "metadata": secret.metadata}, context
        )

    def encrypt_document(self, document: dict[str, Any], context: dict[str, str]) -> bytes:
        """Encrypt a JSON object (a credential's secret, a connect state's); a `DependencyError`
        when KMS fails."""
        plaintext = json.dumps(document, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        try:
            ciphertext, _header = self._client.encrypt(
                source=plaintext,
                materials_manager=self._materials,
                encryption_context=context,
                algorithm=ALGORITHM,
            )
        except (
            AWSEncryptionSDKClientError,
            botocore.exceptions.BotoCoreError,
            botocore.exceptions.ClientError,
        ) as error:
            raise _kms_error(error) from error
        self._verified.remember(bytes(ciphertext), context, plaintext)
        return bytes(ciphertext)

    def decrypt(self, ciphertext: bytes, context: dict[str, str]) -> CredentialsSecret:
        """Decrypt and check the message's context is exactly the row's; a mismatch, a message
        under another key, or a plaintext that is not strict JSON is a `CredentialsIntegrityError`,
        a KMS failure a `DependencyError`."""
        plaintext, checked = self._plaintext(ciphertext, context)
        secret = _secret(plaintext, context.get("id"), checked=checked)
        if not checked:
            self._verified.remember(ciphertext, context, plaintext)
        return secret

    def decrypt_document(self, ciphertext: bytes, context: dict[str, str]) -> dict[str, Any]:
        """Decrypt a JSON object encrypted by `encrypt_document`, checked as `decrypt` checks."""
        plaintext, checked = self._plaintext(ciphertext, context)
        try:
            document = json.loads(plaintext) if checked else strict_json_loads(plaintext)
        except JsonRuleError:
            document = None
        if not isinstance(document, dict):
            raise CredentialsIntegrityError(
                "encrypted document is not a strict JSON object", context.get("id")
            )
        if not checked:
            self._verified.remember(ciphertext, context, plaintext)
        return document

    def _plaintext(self, ciphertext: bytes, context: dict[str, str]) -> tuple[bytes, bool]:
        """The plaintext of a message under exactly `context`, and whether it was checked before
        (remembered from this process's own encryption or an earlier decryption)."""
        credentials_id = context.get("id")
        remembered = self._verified.recall(ciphertext, context)
        if remembered is not None:
            return remembered, True
        _kms_calls.failures = []
        try:
            plaintext, header = self._client.decrypt(source=ciphertext, materials_manager=self._materials)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise _kms_error(error) from error
        except aws_encryption_sdk.exceptions.DecryptKeyError as error:
            failures = _kms_calls.failures or []
            foreign = [f for f in failures if f.code in _FOREIGN_CIPHERTEXT_CODES]
            if failures and not foreign:
                raise failures[-1] from error
            # No KMS call failed (the message names no key of ours) or KMS refused the ciphertext.
            raise CredentialsIntegrityError(
                "stored ciphertext is not decryptable under this service's key", credentials_id
            ) from error
        except (AWSEncryptionSDKClientError, InvalidTag) as error:
            # A tampered body fails its GCM tag inside the SDK, which lets InvalidTag through as is.
            raise CredentialsIntegrityError(
                "stored ciphertext could not be decrypted", credentials_id
            ) from error
        finally:
            _kms_calls.failures = None
        if dict(header.encryption_context) != context:
            raise CredentialsIntegrityError("stored ciphertext belongs to another credential", credentials_id)
        return bytes(plaintext), False


def _secret(plaintext: bytes, credentials_id: str | None, *, checked: bool = False) -> CredentialsSecret:
    # A fresh object per read: callers may hold or change what they get. Strict: a value stored
    # before the input rules (NaN, a lone surrogate...) is refused here, not sent as broken JSON.
    # A remembered plaintext was checked when it was remembered (or written strictly by encrypt).
    try:
        document = json.loads(plaintext) if checked else strict_json_loads(plaintext)
        secret = CredentialsSecret(
            dsn=document["dsn"], access_token=document["access_token"], metadata=document["metadata"]
        )
    except (JsonRuleError, KeyError, TypeError):
        raise CredentialsIntegrityError("stored credentials are not strict JSON", credentials_id) from None
    return secret


def _kms_error(error: BaseException) -> DependencyError:
    """The domain error behind an SDK error, from the botocore error it wraps (never a message
    that could echo data); an SDK error of its own (a malformed key ARN) is a misconfiguration."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
            return dependency_error_of("KMS", current)
        current = current.__cause__ or current.__context__
    return DependencyMisconfiguredError("KMS", type(error).__name__)


def clear_data_key_caches() -> None:
    """Forget the process cipher's data keys and plaintexts, if it was made (it is not made here
    when it was not: making it builds a KMS client)."""
    if credentials_cipher.cache_info().currsize:
        credentials_cipher().clear_caches()


@cache
def credentials_cipher() -> CredentialsCipher:
    """The process's cipher (its data-key cache lives as long as the Lambda instance)."""
    settings = get_settings()
    return CredentialsCipher(
        settings.kms_key_arn,
        cache_seconds=settings.data_key_cache_seconds,
        cache_capacity=settings.data_key_cache_capacity,
    )
