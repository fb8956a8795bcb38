"""The SnapStart runtime hooks at init, in a fresh interpreter as Lambda loads each function:
every API function registers them, the before-snapshot hook makes no AWS client, credentials or
call; and the runtime's module never ships in the layer."""

import json
import os
import subprocess
import sys

from local_stack.template import ROOT, function_directories

from tests.infrastructure.test_layer_requirements import canonical, layer_packages

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


def test_the_runtime_module_never_ships_in_the_layer():
    # The managed runtime provides it; a copy in /opt would shadow the runtime's registry.
    assert canonical("snapshot-restore-py") not in layer_packages()
