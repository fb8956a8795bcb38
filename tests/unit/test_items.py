"""Credentials rows as DynamoDB items and back: what a write stores is what a read returns."""

import pytest
from integration_credentials.adapters.storage.items import row_attributes, row_from_item
from integration_credentials.core.models import Account, StoredCredentials, credentials_view

ROW = StoredCredentials(
    id="3f2b8c1e-6d4a-4b7e-9a51-0c8d2e7f4a10",
    org_id="org-a",
    provider="hubspot",
    version=3,
    created_at="2024-01-01T00:00:00.000000Z",
    updated_at="2024-01-02T00:00:00.000000Z",
    ciphertext=b"\x01ciphertext",
)


def item_of(row: StoredCredentials, *, mirror: bool) -> dict:
    values, _removed = row_attributes(row, mirror=mirror)
    keys = {"org_id": {"S": row.org_id}, "provider": {"S": row.provider}}
    return {**values, **({} if mirror else keys)}


@pytest.mark.parametrize("mirror", [False, True])
@pytest.mark.parametrize(
    "account",
    [Account("12345678", "acme.hubspot.com", "ops@acme.test"), Account("00D000000000001AAA"), None],
)
def test_the_account_and_verification_time_round_trip(mirror: bool, account: Account | None) -> None:
    # Given a row whose token was verified (or never was)
    row = ROW.replace(account=account, verified_at="2024-01-03T00:00:00.000000Z" if account else None)
    # When it is written and read back (the row, or its by-id mirror)
    read = row_from_item(item_of(row, mirror=mirror))
    # Then the account and the verification time are what was written
    assert read.account == account and read.verified_at == row.verified_at


def test_a_row_without_an_account_removes_a_stale_one() -> None:
    # An update of a row whose account was cleared must not leave the old attributes behind
    _values, removed = row_attributes(ROW, mirror=False)
    assert {"account_id", "account_name", "account_user", "verified_at"} <= set(removed)


def test_the_public_object_shows_the_account_without_unknown_parts() -> None:
    row = ROW.replace(account=Account("42", user="7"), verified_at="2024-01-03T00:00:00.000000Z")
    view = credentials_view(row, secret=type("S", (), {"dsn": "d", "access_token": "t", "metadata": {}})())  # type: ignore[arg-type]
    assert view["account"] == {"id": "42", "user": "7"}
    assert view["verified_at"] == "2024-01-03T00:00:00.000000Z"
    assert list(view)[-2:] == ["account", "verified_at"]
