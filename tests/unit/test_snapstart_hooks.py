"""The SnapStart runtime hooks (`adapters/snapstart.py`): every API function registers them at
init, the before-snapshot hook makes no AWS client, credentials or call, and the after-restore
hook re-seeds `random` and empties the caches it owns. The caches' effect on requests is in
tests/integration/test_snapstart_restore.py."""

import json
import os
import random
import subprocess
import sys

import pytest
import snapshot_restore_py
from integration_credentials.adapters import auth, snapstart
from integration_credentials.adapters.crypto.verified import VerifiedPlaintexts
from integration_credentials.core.errors import AuthenticationError
from integration_credentials.core.settings import ROLE_SETTINGS, Settings, env_name
from local_stack.template import ROOT, function_directories

from tests.unit.test_layer_requirements import canonical, layer_packages

LAYER = ROOT / "layers" / "common"
API_FUNCTIONS = function_directories()

# Loads one function's app.py as Lambda does, runs the before-snapshot hooks as the runtime does
# (last registered first), and reports what was registered and what AWS state exists.
_PROBE = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import snapshot_restore_py
before = [f"{{f.__module__}}.{{f.__name__}}" for f, _a, _k in snapshot_restore_py.get_before_snapshot()]
after = [f"{{f.__module__}}.{{f.__name__}}" for f, _a, _k in snapshot_restore_py.get_after_restore()]
for func, args, kwargs in reversed(snapshot_restore_py.get_before_snapshot()):
    func(*args, **kwargs)
from integration_credentials.adapters import aws
clients = [c.__name__ for c in (aws.dynamodb_client, aws.ssm_client, aws.events_client, aws.sqs_client)
           if c.cache_info().currsize]
session = aws.botocore_session() if aws.botocore_session.cache_info().currsize else None
print(json.dumps({{
    "before": before, "after": after, "clients": clients,
    "credentials": session is not None and session._credentials is not None,
    "esdk": "aws_encryption_sdk" in sys.modules,
    "jwt": "jwt" in sys.modules,
}}))
"""


def _probe(functions: list[str]) -> dict[str, dict[str, object]]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION"))
    }
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    # The names each function checks at init (template.yaml gives them in AWS); nothing is read.
    needed = {"table_name", "kms_key_arn", *(field for fields in ROLE_SETTINGS.values() for field in fields)}
    env.update({env_name(field): f"/probe/{field}" for field in needed})
    processes = {
        function: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PROBE.format(layer=str(LAYER), path=str(ROOT / "functions" / function / "app.py")),
            ],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for function in functions
    }
    results = {}
    for function, process in processes.items():
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, function
        results[function] = json.loads(out.splitlines()[-1])
    return results


def test_every_api_function_registers_the_hooks_and_makes_nothing_aws_before_the_snapshot():
    assert len(API_FUNCTIONS) == 9
    for function, found in _probe(API_FUNCTIONS).items():
        assert found["before"] == ["integration_credentials.adapters.snapstart.before_snapshot"], function
        assert found["after"] == ["integration_credentials.adapters.snapstart.after_restore"], function
        # Nothing the snapshot would carry to every restored instance: no client, no credentials.
        assert found["clients"] == [], function
        assert found["credentials"] is False, function
        # What it did prepare: pyjwt, and the models of the clients the first request makes.
        assert found["jwt"] is True, function
        # Priming never loads the Encryption SDK where the function does not (delete).
        assert found["esdk"] is (function != "delete_credentials"), function


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


def test_the_runtime_module_never_ships_in_the_layer():
    # The managed runtime provides it; a copy in /opt would shadow the runtime's registry.
    assert canonical("snapshot-restore-py") not in layer_packages()


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
