"""Envelope encryption of the secret part of a credential with the AWS Encryption SDK.

One KMS data key per write (the context holds the credential id), a committing non-signing
suite, and a local data-key cache used for decrypt as well as encrypt: warm reads of the same
credential make no KMS call.

Warm reads skip the Encryption SDK altogether: a message this process has encrypted or verified
is remembered, for as long as its data key is (`DATA_KEY_CACHE_SECONDS`), under the SHA-256 of the
ciphertext *and* the row's encryption context. Another ciphertext, or the same one read from
another row, is a miss and goes through the SDK and its context check. The plaintext lives only
in this process's memory, as the cached data keys that would decrypt it already do.
"""

import hashlib
import json
import threading
import time
from collections import OrderedDict
from functools import cache

import aws_encryption_sdk
import botocore.exceptions
from aws_encryption_sdk import Algorithm, CommitmentPolicy
from aws_encryption_sdk.caches.local import LocalCryptoMaterialsCache
from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError
from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager
from cryptography.exceptions import InvalidTag

from .aws import botocore_session
from .errors import CredentialsIntegrityError, DependencyUnavailableError
from .models import CredentialsSecret
from .settings import get_settings

ALGORITHM = Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY
# (SHA-256 of a ciphertext, the encryption context it was verified under)
_VerifiedKey = tuple[bytes, tuple[tuple[str, str], ...]]


class CredentialsCipher:
    """Encrypts and decrypts `CredentialsSecret` under one KMS key, bound to an encryption context."""

    def __init__(self, kms_key_arn: str, *, cache_seconds: float, cache_capacity: int) -> None:
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[kms_key_arn], botocore_session=botocore_session()
        )
        self._materials = CachingCryptoMaterialsManager(
            master_key_provider=provider,
            cache=LocalCryptoMaterialsCache(cache_capacity),
            max_age=cache_seconds,
            max_messages_encrypted=100,
        )
        self._client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self._verified: OrderedDict[tuple[bytes, tuple[tuple[str, str], ...]], tuple[float, bytes]] = (
            OrderedDict()
        )
        self._verified_lock = threading.Lock()
        self._verified_seconds = cache_seconds
        self._verified_capacity = cache_capacity

    def _remember(self, ciphertext: bytes, context: dict[str, str], plaintext: bytes) -> None:
        key = (hashlib.sha256(ciphertext).digest(), tuple(sorted(context.items())))
        with self._verified_lock:
            self._verified[key] = (time.monotonic() + self._verified_seconds, plaintext)
            self._verified.move_to_end(key)
            while len(self._verified) > self._verified_capacity:
                self._verified.popitem(last=False)

    def _recall(self, ciphertext: bytes, context: dict[str, str]) -> bytes | None:
        key = (hashlib.sha256(ciphertext).digest(), tuple(sorted(context.items())))
        with self._verified_lock:
            entry = self._verified.get(key)
            if entry is None:
                return None
            if entry[0] <= time.monotonic():
                del self._verified[key]
                return None
            self._verified.move_to_end(key)
            return entry[1]

    def encrypt(self, secret: CredentialsSecret, context: dict[str, str]) -> bytes:
        """Encrypt the secret fields; raises `DependencyUnavailableError` when KMS fails."""
        plaintext = json.dumps(
            {"dsn": secret.dsn, "access_token": secret.access_token, "metadata": secret.metadata},
            ensure_ascii=False,
            separators=(",", ":"),
        ).encode()
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
            raise DependencyUnavailableError("KMS", _error_code(error)) from error
        self._remember(bytes(ciphertext), context, plaintext)
        return bytes(ciphertext)

    def decrypt(self, ciphertext: bytes, context: dict[str, str]) -> CredentialsSecret:
        """Decrypt and check the message's context is exactly the row's; a mismatch is an error."""
        remembered = self._recall(ciphertext, context)
        if remembered is not None:
            return _secret(remembered)
        try:
            plaintext, header = self._client.decrypt(source=ciphertext, materials_manager=self._materials)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
            raise DependencyUnavailableError("KMS", _error_code(error)) from error
        except aws_encryption_sdk.exceptions.DecryptKeyError as error:
            # The SDK folds every KMS failure (throttled, denied, disabled key) into this one.
            raise DependencyUnavailableError("KMS", _error_code(error)) from error
        except (AWSEncryptionSDKClientError, InvalidTag) as error:
            # A tampered body fails its GCM tag inside the SDK, which lets InvalidTag through as is.
            raise CredentialsIntegrityError("stored ciphertext could not be decrypted") from error
        if dict(header.encryption_context) != context:
            raise CredentialsIntegrityError("stored ciphertext belongs to another credential")
        self._remember(ciphertext, context, bytes(plaintext))
        return _secret(bytes(plaintext))


def _secret(plaintext: bytes) -> CredentialsSecret:
    # A fresh object per read: callers may hold or change what they get.
    document = json.loads(plaintext)
    return CredentialsSecret(
        dsn=document["dsn"], access_token=document["access_token"], metadata=document["metadata"]
    )


def _error_code(error: BaseException) -> str:
    """The AWS error code behind an SDK error, for logs (never a message that could echo data)."""
    current: BaseException | None = error
    while current is not None:
        if isinstance(current, botocore.exceptions.ClientError):
            return str(current.response.get("Error", {}).get("Code", "ClientError"))
        if isinstance(current, botocore.exceptions.BotoCoreError):
            return type(current).__name__
        current = current.__cause__ or current.__context__
    return type(error).__name__


@cache
def credentials_cipher() -> CredentialsCipher:
    """The process's cipher (its data-key cache lives as long as the Lambda instance)."""
    settings = get_settings()
    return CredentialsCipher(
        settings.kms_key_arn,
        cache_seconds=settings.data_key_cache_seconds,
        cache_capacity=settings.data_key_cache_capacity,
    )
