"""Credentials rows as DynamoDB items and back: what a write stores is what a read returns."""

import pytest
from integration_credentials.adapters.storage.items import (
    holds,
    mirror_attributes,
    mirror_pointer,
    row_attributes,
    row_from_item,
)
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


def item_of(row: StoredCredentials) -> dict:
    values, _removed = row_attributes(row)
    return {**values, "org_id": {"S": row.org_id}, "provider": {"S": row.provider}}


@pytest.mark.parametrize(
    "account",
    [Account("12345678", "acme.hubspot.com", "ops@acme.test"), Account("00D000000000001AAA"), None],
)
def test_the_account_and_verification_time_round_trip(account: Account | None) -> None:
    # Given a row whose token was verified (or never was)
    row = ROW.replace(account=account, verified_at="2024-01-03T00:00:00.000000Z" if account else None)
    # When it is written and read back
    read = row_from_item(item_of(row))
    # Then the account and the verification time are what was written
    assert read.account == account and read.verified_at == row.verified_at


def test_a_row_without_an_account_removes_a_stale_one() -> None:
    # An update of a row whose account was cleared must not leave the old attributes behind
    _values, removed = row_attributes(ROW)
    assert {"account_id", "account_name", "account_user", "verified_at"} <= set(removed)


def test_the_public_object_shows_the_account_without_unknown_parts() -> None:
    row = ROW.replace(account=Account("42", user="7"), verified_at="2024-01-03T00:00:00.000000Z")
    view = credentials_view(row, secret=type("S", (), {"dsn": "d", "access_token": "t", "metadata": {}})())  # type: ignore[arg-type]
    assert view["account"] == {"id": "42", "user": "7"}
    assert view["verified_at"] == "2024-01-03T00:00:00.000000Z"
    assert list(view)[-2:] == ["account", "verified_at"]


def test_an_id_mirror_holds_the_key_of_its_row_and_nothing_else() -> None:
    # A mirror copies no token, state or account: a refresh or a PUT has nothing to change in it
    mirror = mirror_attributes(ROW.replace(account=Account("42"), verified_at="2024-01-03T00:00:00.000000Z"))
    assert set(mirror) == {"id", "owner_org_id", "owner_provider"}
    assert mirror_pointer(mirror) == (ROW.id, ROW.org_id, ROW.provider)


def test_a_mirror_written_as_a_copy_of_its_row_is_read_as_a_pointer() -> None:
    # Mirrors written before they were pointers carried the whole row: only its key is taken
    full = {**item_of(ROW), "org_id": {"S": f"ID#{ROW.id}"}, "provider": {"S": "ID"}}
    full |= {"owner_org_id": {"S": ROW.org_id}, "owner_provider": {"S": ROW.provider}}
    assert mirror_pointer(full) == (ROW.id, ROW.org_id, ROW.provider)
    assert mirror_pointer({"id": {"S": ROW.id}}) is None


def test_a_write_is_told_from_another_by_what_it_wrote() -> None:
    written, _removed = row_attributes(ROW.replace(version=4, ciphertext=b"\x01new"))
    assert holds({**item_of(ROW), **written, "lease_owner": {"S": "w"}}, written)
    assert not holds(item_of(ROW), written)
    other, _ = row_attributes(ROW.replace(version=4, ciphertext=b"\x01another"))
    assert not holds({**item_of(ROW), **other}, written)
