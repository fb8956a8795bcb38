"""What a cold start imports: each function's module, loaded in a fresh interpreter as Lambda
loads it, pulls in only what its requests need (the figures are in `make bench`)."""

import json
import os
import subprocess
import sys

from credentials_tools.template import ROOT, function_directories, queue_triggers, schedule_triggers

LAYER = ROOT / "layers" / "common"
# Imported by a request that needs it, never by the module: X-Ray where tracing is off, the
# Encryption SDK where a route does not encrypt or decrypt, pyjwt where no bearer token came.
WATCHED = ("aws_xray_sdk.core", "aws_encryption_sdk", "jwt")

_PROBE = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
loaded = {{}}
for name, path in {functions!r}:
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert callable(module.lambda_handler)
    import integration_credentials.observability as observability
    loaded[name] = {{
        "modules": sorted(m for m in {watched!r} if m in sys.modules),
        "tracer": type(observability.tracer).__name__,
    }}
print(json.dumps(loaded))
"""


def _import(functions: list[str], **environment: str | None) -> dict[str, dict[str, object]]:
    """Import each function's app.py in one fresh interpreter, in order; what had been imported
    after each, and which tracer the shared observability module built."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("POWERTOOLS_", "LAMBDA_"))
    }
    env["AWS_DEFAULT_REGION"] = "us-east-1"
    for name, value in environment.items():
        if value is not None:
            env[name] = value
    paths = [(f"app_{name}", str(ROOT / "functions" / name / "app.py")) for name in functions]
    code = _PROBE.format(layer=str(LAYER), functions=paths, watched=WATCHED)
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, dict[str, object]] = json.loads(done.stdout.strip().splitlines()[-1])
    return {name.removeprefix("app_"): value for name, value in result.items()}


def test_no_function_imports_the_xray_sdk_pyjwt_or_the_encryption_sdk_where_tracing_is_off() -> None:
    # Outside Lambda (sam local, make run, tests, the benchmark) tracing is off: importing the
    # X-Ray SDK anyway would build a botocore session and two X-Ray clients for nothing.
    functions = function_directories()  # the HTTP routes
    functions += sorted(
        {trigger.function.code_uri.name for trigger in [*schedule_triggers(), *queue_triggers()]}
    )
    assert len(functions) == 9
    loaded = _import(functions)
    assert loaded[functions[-1]]["modules"] == [], loaded
    assert {entry["tracer"] for entry in loaded.values()} == {"NoneType"}


def test_powertools_trace_disabled_keeps_the_xray_sdk_out_on_lambda_too() -> None:
    loaded = _import(["get_credentials"], LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="true")
    assert loaded["get_credentials"] == {"modules": [], "tracer": "NoneType"}


def test_on_lambda_the_handlers_are_traced() -> None:
    # On Lambda (LAMBDA_TASK_ROOT set) with tracing not disabled, the Tracer exists and wraps the
    # handlers (Tracing: Active in template.yaml).
    loaded = _import(["get_credentials", "refresh_worker"], LAMBDA_TASK_ROOT=str(ROOT))
    for entry in loaded.values():
        assert entry["tracer"] == "Tracer"
        assert "aws_xray_sdk.core" in entry["modules"]  # type: ignore[operator]
