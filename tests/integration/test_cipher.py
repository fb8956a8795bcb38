"""The cipher's caches: what a warm read costs, and what the plaintext cache must never do."""

import time

import pytest
from integration_credentials.adapters.crypto.cipher import CredentialsCipher
from integration_credentials.core.errors import CredentialsIntegrityError
from integration_credentials.core.models import CredentialsSecret

SECRET = CredentialsSecret(dsn="postgres://crm", access_token="token-1", metadata={"refresh_token": "r"})
CONTEXT = {"org_id": "org-a", "provider": "zoho", "id": "11111111-1111-4111-8111-111111111111"}


def kms_calls(stack):
    return sum(v for (service, _), v in stack.aws.calls().items() if service == "kms")


@pytest.fixture
def cipher(stack):
    return CredentialsCipher(stack.resources.kms_key_arn, cache_seconds=0.5, cache_capacity=2)


def test_reading_back_what_this_process_wrote_needs_no_kms(stack, cipher):
    ciphertext = cipher.encrypt(SECRET, CONTEXT)
    stack.aws.reset_calls()
    assert cipher.decrypt(ciphertext, CONTEXT) == SECRET
    assert kms_calls(stack) == 0


def test_after_the_cache_period_the_sdk_and_kms_are_used_again(stack, cipher):
    ciphertext = cipher.encrypt(SECRET, CONTEXT)
    time.sleep(0.6)
    stack.aws.reset_calls()
    assert cipher.decrypt(ciphertext, CONTEXT) == SECRET
    assert kms_calls(stack) == 1


def test_a_remembered_ciphertext_under_another_context_is_still_refused(stack, cipher):
    ciphertext = cipher.encrypt(SECRET, CONTEXT)
    assert cipher.decrypt(ciphertext, CONTEXT) == SECRET
    with pytest.raises(CredentialsIntegrityError):
        cipher.decrypt(ciphertext, {**CONTEXT, "org_id": "org-b"})


def test_the_cache_is_bounded(stack, cipher):
    blobs = [cipher.encrypt(SECRET, {**CONTEXT, "id": f"id-{n}"}) for n in range(3)]
    stack.aws.reset_calls()
    cipher.decrypt(blobs[0], {**CONTEXT, "id": "id-0"})  # evicted (capacity 2): through the SDK
    assert kms_calls(stack) == 1


def test_reads_return_independent_objects(stack, cipher):
    ciphertext = cipher.encrypt(SECRET, CONTEXT)
    first = cipher.decrypt(ciphertext, CONTEXT)
    first.metadata["refresh_token"] = "changed by a caller"
    assert cipher.decrypt(ciphertext, CONTEXT).metadata == {"refresh_token": "r"}
