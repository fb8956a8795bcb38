"""The immutable values a request passes around (`core.frozen.Frozen`: a stored row, its refresh
state, a principal): read-only once made, compared and hashed by their fields, copied with
`replace`, and copyable and picklable as they are."""

import copy
import pickle
from dataclasses import FrozenInstanceError

import pytest
from integration_credentials.adapters.auth import Principal
from integration_credentials.core.models import Account, RefreshState, StoredCredentials

ROW = StoredCredentials(
    id="3f2b8c1e-6d4a-4b7e-9a51-0c8d2e7f4a10",
    org_id="org-a",
    provider="hubspot",
    version=3,
    created_at="2024-01-01T00:00:00.000000Z",
    updated_at="2024-01-02T00:00:00.000000Z",
    ciphertext=b"\x01ciphertext",
    account=Account("42", user="7"),
)


def test_a_field_can_be_neither_assigned_nor_deleted() -> None:
    with pytest.raises(FrozenInstanceError):
        ROW.version = 4  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del ROW.org_id  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        ROW.state.failures = 1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        ROW.unknown = 1  # type: ignore[attr-defined]
    assert ROW.version == 3
    assert ROW.org_id == "org-a"


def test_replace_copies_with_the_changes_and_leaves_the_original() -> None:
    moved = ROW.replace(version=4, state=ROW.state.replace(refresh_due=1700000000))
    assert (moved.version, moved.state.refresh_due, moved.id, moved.account) == (
        4,
        1700000000,
        ROW.id,
        ROW.account,
    )
    assert (ROW.version, ROW.state.refresh_due) == (3, None)
    with pytest.raises(TypeError):
        ROW.replace(colour="red")


def test_equal_fields_are_equal_values_with_one_hash() -> None:
    same = StoredCredentials(**{name: getattr(ROW, name) for name in StoredCredentials.__slots__})
    assert same == ROW
    assert hash(Principal("org-a", "api_key", "k1")) == hash(Principal("org-a", "api_key", "k1"))
    assert ROW.replace(version=4) != ROW
    assert RefreshState() == RefreshState(status="active", failures=0)
    assert RefreshState() != RefreshState(failures=1)
    # Another type with the same fields is not equal.
    assert Account("42") != Principal("42", "api_key", "k1")
    assert "version=3" in repr(ROW)
    assert repr(Account("42")) == "Account(id='42', name=None, user=None)"


def test_copies_and_pickles_are_equal_and_still_frozen() -> None:
    for twin in (copy.copy(ROW), copy.deepcopy(ROW), pickle.loads(pickle.dumps(ROW))):
        assert twin == ROW
        with pytest.raises(FrozenInstanceError):
            twin.version = 5  # type: ignore[misc]
