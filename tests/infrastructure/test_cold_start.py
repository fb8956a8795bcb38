"""What a cold start imports: each function's module, loaded in a fresh interpreter as Lambda
loads it, imports what every one of its requests needs (at init, where Lambda's provisioned
concurrency or SnapStart pay for it ahead of any request) and nothing else (the figures are in
`make bench`)."""

import json
import os
import subprocess
import sys

from local_stack.template import ROOT, function_directories, queue_triggers, schedule_triggers

LAYER = ROOT / "layers" / "common"
XRAY, ESDK, JWT, OAUTH = (
    "aws_xray_sdk.core",
    "aws_encryption_sdk",
    "jwt",
    "integration_credentials.adapters.providers",
)
WATCHED = (XRAY, ESDK, JWT, OAUTH)
# Every request of these encrypts or decrypts; delete never does, nor does the scheduler.
ENCRYPTING = {
    "create_credentials",
    "list_credentials",
    "get_credentials_by_provider",
    "get_credentials",
    "update_credentials",
    "refresh_credentials",
    "refresh_worker",
    "connect_credentials",
    "oauth_callback",
}
# These speak OAuth to the providers (refresh tokens, build an authorize URL, exchange a code):
# they need the provider clients (create and update only compute a schedule, which needs none).
REFRESHING = {"refresh_credentials", "refresh_worker", "connect_credentials", "oauth_callback"}
# The callback signs the result it sends back to the return URL (a JWS): pyjwt. Step 1 never
# signs, and API keys are the default authentication (JWT verification loads pyjwt on demand).
SIGNING = {"oauth_callback"}

_PROBE = """
import importlib.util, json, sys
sys.path.insert(0, {layer!r})
spec = importlib.util.spec_from_file_location("app", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
assert callable(module.lambda_handler)
import integration_credentials.adapters.observability as observability
print(json.dumps({{
    "modules": sorted(m for m in {watched!r} if m in sys.modules),
    "tracer": type(observability.tracer).__name__,
}}))
"""


def all_functions() -> list[str]:
    routes = function_directories()
    triggered = {trigger.function.code_uri.name for trigger in [*schedule_triggers(), *queue_triggers()]}
    return routes + sorted(triggered)


def _import(functions: list[str], **environment: str) -> dict[str, dict[str, object]]:
    """Import each function's app.py in a fresh interpreter of its own (all at once): what it
    imported, and which tracer the shared observability module built."""
    env = {
        name: value for name, value in os.environ.items() if not name.startswith(("POWERTOOLS_", "LAMBDA_"))
    }
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
        for name in functions
    }
    loaded: dict[str, dict[str, object]] = {}
    for name, process in running.items():
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, f"{name}: {err[-2000:]}"
        loaded[name] = json.loads(out.strip().splitlines()[-1])
    return loaded


def test_each_function_imports_at_init_what_its_requests_need_and_nothing_more() -> None:
    functions = all_functions()
    assert len(functions) == 11
    loaded = _import(functions)
    for name in functions:
        expected = (
            sorted({ESDK} if name in ENCRYPTING else set())
            + ([OAUTH] if name in REFRESHING else [])
            + ([JWT] if name in SIGNING else [])
        )
        assert loaded[name] == {"modules": sorted(expected), "tracer": "NoneType"}, name


def test_powertools_trace_disabled_keeps_the_xray_sdk_out_on_lambda_too() -> None:
    # Outside Lambda tracing is off anyway; on Lambda POWERTOOLS_TRACE_DISABLED turns it off. A
    # Tracer would import the X-Ray SDK all the same (off Lambda, with a botocore session and two
    # X-Ray clients for its sampler).
    loaded = _import(["delete_credentials"], LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="true")
    assert loaded["delete_credentials"] == {"modules": [], "tracer": "NoneType"}


def test_on_lambda_the_handlers_are_traced() -> None:
    # On Lambda (LAMBDA_TASK_ROOT set) with tracing not disabled, the Tracer exists and wraps the
    # handlers (Tracing: Active in template.yaml).
    loaded = _import(["delete_credentials", "refresh_scheduler"], LAMBDA_TASK_ROOT=str(ROOT))
    for entry in loaded.values():
        assert entry == {"modules": [XRAY], "tracer": "Tracer"}
