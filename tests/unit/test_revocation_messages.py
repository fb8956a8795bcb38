"""The revocation message and the worker's dispatch on a message's `kind`, without AWS: what DELETE
enqueues carries the ciphertext only, which token is revoked, and which handler takes a message."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.adapters.revocations import RevokeMessage, is_revocable
from integration_credentials.core.models import CredentialsSecret, StoredCredentials
from integration_credentials.logic.revocation import token_to_revoke
from integration_credentials.logic.worker import MESSAGE_HANDLERS, message_kind

CIPHERTEXT = b"\x01\x02 not really an ESDK message \xff"


def row(provider: str = "salesforce") -> StoredCredentials:
    return StoredCredentials("c-1", "org-1", provider, 3, "t", "t", CIPHERTEXT)


def test_the_message_holds_the_rows_ids_and_ciphertext_only() -> None:
    message = RevokeMessage.of(row())
    document = json.loads(message.model_dump_json())
    assert set(document) == {"kind", "org_id", "provider", "id", "version", "ciphertext"}
    assert (document["kind"], document["org_id"], document["provider"], document["id"]) == (
        "revoke",
        "org-1",
        "salesforce",
        "c-1",
    )
    assert RevokeMessage.model_validate_json(message.model_dump_json()).ciphertext_bytes() == CIPHERTEXT
    assert message.encryption_context == row().encryption_context


def test_a_ciphertext_that_is_not_base64_reads_as_none() -> None:
    message = RevokeMessage.of(row()).model_copy(update={"ciphertext": "not base64!"})
    assert message.ciphertext_bytes() is None


def test_dynamics_and_custom_cannot_revoke() -> None:
    assert [p for p in ("salesforce", "hubspot", "pipedrive", "zoho") if not is_revocable(p)] == []
    assert not is_revocable("dynamics") and not is_revocable("custom")


def test_the_refresh_token_is_revoked_else_the_access_token() -> None:
    both = CredentialsSecret(dsn="d", access_token="AT", metadata={"refresh_token": "RT"})
    assert token_to_revoke(both) == ("RT", "refresh_token")
    only_access = CredentialsSecret(dsn="d", access_token="AT", metadata={"refresh_token": ""})
    assert token_to_revoke(only_access) == ("AT", "access_token")
    assert token_to_revoke(CredentialsSecret(dsn="d", access_token="", metadata={})) is None


def test_a_message_without_a_kind_is_a_refresh_and_revoke_has_its_own_handler() -> None:
    scheduler_message = json.dumps({"org_id": "o", "provider": "salesforce", "id": "c"})
    assert message_kind(scheduler_message) == "refresh"
    assert message_kind(RevokeMessage.of(row()).model_dump_json()) == "revoke"
    assert MESSAGE_HANDLERS["refresh"] is not MESSAGE_HANDLERS["revoke"]


@pytest.mark.parametrize("body", ["not json", "[]", "null", '"revoke"'])
def test_what_is_not_an_object_goes_to_the_refresh_handler_which_rejects_it(body: str) -> None:
    assert message_kind(body) == "refresh"


@given(kind=st.one_of(st.integers(), st.none(), st.lists(st.text()), st.text()))
def test_only_a_known_kind_has_a_handler(kind: object) -> None:
    body = json.dumps({"kind": kind, "org_id": "o", "provider": "salesforce", "id": "c"})
    known = isinstance(kind, str) and kind in MESSAGE_HANDLERS
    assert (message_kind(body) in MESSAGE_HANDLERS) is known
