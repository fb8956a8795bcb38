"""The SnapStart runtime hooks (`adapters/snapstart.py`): the after-restore hook re-seeds `random`
and empties the caches it owns (what each function registers at init, in a fresh interpreter, is
tests/infrastructure/test_snapstart_init.py). The caches' effect on requests is in
tests/integration/test_snapstart_restore.py."""

import random
import sys

import pytest
import snapshot_restore_py
from integration_credentials.adapters import auth, snapstart
from integration_credentials.adapters.crypto.verified import VerifiedPlaintexts
from integration_credentials.core.errors import AuthenticationError
from integration_credentials.core.settings import Settings


def _run_after_restore() -> None:
    snapstart.register_hooks()
    for func, args, kwargs in snapshot_restore_py.get_after_restore():
        func(*args, **kwargs)


def test_two_instances_restored_from_one_snapshot_draw_different_jitter():
    snapshot = random.getstate()
    # Without the hook, both would draw the very same sequence (the state is in the snapshot).
    random.setstate(snapshot)
    unhooked = [random.random() for _ in range(3)]
    random.setstate(snapshot)
    assert [random.random() for _ in range(3)] == unhooked
    # With it, each restored instance re-seeds from the kernel.
    random.setstate(snapshot)
    _run_after_restore()
    first = [random.random() for _ in range(3)]
    random.setstate(snapshot)
    _run_after_restore()
    second = [random.random() for _ in range(3)]
    assert first != second
    assert unhooked not in (first, second)


def test_registering_twice_registers_once():
    snapstart.register_hooks()
    snapstart.register_hooks()
    after = [f for f, _a, _k in snapshot_restore_py.get_after_restore() if f is snapstart.after_restore]
    before = [f for f, _a, _k in snapshot_restore_py.get_before_snapshot() if f is snapstart.before_snapshot]
    assert (len(after), len(before)) == (1, 1)


def test_without_the_runtime_module_a_stand_in_registry_records_the_hooks(monkeypatch):
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails
    registry = snapstart.runtime_hooks()
    assert registry is not snapshot_restore_py

    def hook(value, *, twice):
        return value * (2 if twice else 1)

    assert registry.register_after_restore(hook, 3, twice=True) is hook
    assert registry.get_after_restore()[-1] == (hook, (3,), {"twice": True})
    snapstart.register_hooks()
    assert snapstart.after_restore in [f for f, _a, _k in registry.get_after_restore()]


class _Keys:
    def __init__(self):
        self.finds = 0

    def find(self, key_hash):
        self.finds += 1
        return None  # unknown: remembered by the negative cache


def test_the_api_key_verifier_forgets_known_and_unknown_keys():
    keys = _Keys()
    verifier = auth.ApiKeyVerifier(keys, ttl_seconds=60, unknown_ttl_seconds=60)  # type: ignore[arg-type]
    key = "sk_live_" + "a" * 40
    for _ in range(2):
        with pytest.raises(AuthenticationError):
            verifier.verify(key)
    assert keys.finds == 1
    verifier.clear_caches()
    with pytest.raises(AuthenticationError):
        verifier.verify(key)
    assert keys.finds == 2


def test_the_jwt_verifier_forgets_its_jwks_client():
    verifier = auth.JwtVerifier(Settings(table_name="t", kms_key_arn="k"))
    verifier._jwks = object()  # type: ignore[assignment]
    verifier.clear_caches()
    assert verifier._jwks is None


def test_remembered_plaintexts_are_forgotten():
    verified = VerifiedPlaintexts(ttl_seconds=60, capacity=10)
    verified.remember(b"ciphertext", {"id": "1"}, b"plaintext")
    verified.clear()
    assert verified.recall(b"ciphertext", {"id": "1"}) is None
