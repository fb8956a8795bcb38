"""Each function's app.py loaded in a fresh interpreter of its own, as Lambda loads it (all at
once): what its init imported and which tracer it built (tests/infrastructure/test_cold_start.py);
then, as the SnapStart runtime does, its before-snapshot hooks run (last registered first), and
what was registered and what AWS state exists (tests/infrastructure/test_snapstart_init.py).
One interpreter per function and environment serves both (each costs seconds of CPU)."""

import json
import os
import subprocess
import sys
from typing import Any

from integration_credentials.core.settings import ROLE_SETTINGS, env_name
from local_stack.template import ROOT

LAYER = ROOT / "layers" / "common"
# The modules whose presence after init each probe reports.
WATCHED = (
    "aws_xray_sdk.core",
    "aws_encryption_sdk",
    "jwt",
    "integration_credentials.adapters.providers",
    "integration_credentials.adapters.jwks",
    "aws_lambda_powertools.utilities.parameters",
    "integration_credentials.http.openapi.models",
    "integration_credentials.core.bodies.create",
    "integration_credentials.core.bodies.update",
    "integration_credentials.core.bodies.connect",
    "integration_credentials.adapters.revocations",
)
(
    XRAY,
    ESDK,
    JWT,
    OAUTH,
    JWKS,
    PARAMETERS,
    RESPONSE_MODELS,
    CREATE_BODY,
    UPDATE_BODY,
    CONNECT_BODY,
    REVOCATIONS,
) = WATCHED

_PROBE = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
import integration_credentials.adapters.observability as observability
init = {{"modules": sorted(m for m in {watched!r} if m in sys.modules), "tracer": type(observability.tracer).__name__}}
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
    "init": init,
    "before": before, "after": after, "clients": clients,
    "credentials": session is not None and session._credentials is not None,
    "esdk": "aws_encryption_sdk" in sys.modules,
    "jwt": "jwt" in sys.modules,
    "parameters": "aws_lambda_powertools.utilities.parameters" in sys.modules,
}}))
"""


# (function, environment) -> its report, for the process's lifetime: both test modules ask.
_REPORTS: dict[tuple[str, tuple[tuple[str, str], ...]], dict[str, Any]] = {}


def loaded(functions: list[str], **environment: str) -> dict[str, dict[str, Any]]:
    """What each function's fresh interpreter reports, under `environment` added to this one's
    (less Lambda's, Powertools' and any AWS credentials)."""
    settings = tuple(sorted(environment.items()))
    missing = [name for name in functions if (name, settings) not in _REPORTS]
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("POWERTOOLS_", "LAMBDA_", "AWS_ACCESS_KEY", "AWS_SECRET", "AWS_SESSION"))
    }
    # The names each function checks at init (template.yaml gives them in AWS); nothing is read.
    needed = {"table_name", "kms_key_arn", *(field for fields in ROLE_SETTINGS.values() for field in fields)}
    env.update({env_name(field): f"/probe/{field}" for field in needed})
    env.update(AWS_DEFAULT_REGION="us-east-1", **environment)
    running = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-c",
                _PROBE.format(
                    layer=str(LAYER), path=str(ROOT / "functions" / name / "app.py"), watched=WATCHED
                ),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in missing
    }
    for name, process in running.items():
        out, err = process.communicate(timeout=180)
        assert process.returncode == 0, f"{name}: {err[-2000:]}"
        _REPORTS[(name, settings)] = json.loads(out.strip().splitlines()[-1])
    return {name: _REPORTS[(name, settings)] for name in functions}
