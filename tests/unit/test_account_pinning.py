"""The pinning rule alone: which CRM account a reconnect stores, given the stored one and what the
identity call said about the new tokens."""

import pytest
from integration_credentials.core.errors import AccountMismatchError, AccountUnverifiedError
from integration_credentials.core.models import Account
from integration_credentials.http.errors import error_response
from integration_credentials.policy.account_pinning import NewGrantIdentity, pin_account

CID = "8e1f2c8a-6f1e-4d59-9a39-2f3b0c7d9e10"
ACME = Account("1001", "acme.example", "7")
ACME_AS_OTHER_USER = Account("1001", "Acme (renamed)", "8")
GLOBEX = Account("2002", "globex.example", "7")
NOW = "2026-12-03T10:00:00.000000Z"
EARLIER = "2026-12-01T10:00:00.000000Z"


def test_credentials_without_an_account_record_the_new_tokens_account() -> None:
    pinned = pin_account(CID, None, None, NewGrantIdentity(GLOBEX, NOW), allow_change=False)
    assert (pinned.account, pinned.verified_at, pinned.changed) == (GLOBEX, NOW, False)


def test_the_same_account_with_another_user_or_name_is_the_same_account() -> None:
    pinned = pin_account(CID, ACME, EARLIER, NewGrantIdentity(ACME_AS_OTHER_USER, NOW), allow_change=False)
    assert (pinned.account, pinned.verified_at, pinned.changed) == (ACME_AS_OTHER_USER, NOW, False)


def test_another_account_is_refused_naming_both() -> None:
    with pytest.raises(AccountMismatchError) as refused:
        pin_account(CID, ACME, EARLIER, NewGrantIdentity(GLOBEX, NOW), allow_change=False)
    assert (refused.value.stored_account_id, refused.value.new_account_id) == ("1001", "2002")
    assert refused.value.credentials_id == CID


def test_another_account_is_a_change_when_allowed() -> None:
    pinned = pin_account(CID, ACME, EARLIER, NewGrantIdentity(GLOBEX, NOW), allow_change=True)
    assert (pinned.account, pinned.verified_at, pinned.changed) == (GLOBEX, NOW, True)


@pytest.mark.parametrize("allow_change", [False, True])
def test_an_unknown_account_cannot_replace_a_known_one(allow_change: bool) -> None:
    with pytest.raises(AccountUnverifiedError):
        pin_account(CID, ACME, EARLIER, NewGrantIdentity(), allow_change=allow_change)


def test_an_unknown_account_on_credentials_without_one_keeps_none() -> None:
    pinned = pin_account(CID, None, None, NewGrantIdentity(), allow_change=False)
    assert (pinned.account, pinned.verified_at, pinned.changed) == (None, None, False)


def test_the_errors_answer_as_conflict_and_retry_later_without_an_account_id() -> None:
    mismatch = error_response(AccountMismatchError(CID, "1001", "2002"))
    unverified = error_response(AccountUnverifiedError(CID))
    assert mismatch.status_code == 409 and "allow_account_change" in str(mismatch.body)
    assert unverified.status_code == 503 and unverified.headers["Retry-After"] == "1"
    # Account ids are not secrets, but a refusal's detail names only the caller's own credentials.
    assert "2002" not in str(mismatch.body) and "1001" not in str(mismatch.body)
