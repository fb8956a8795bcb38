"""What a cold start imports: each function's module, loaded in a fresh interpreter as Lambda
loads it, imports what every one of its requests needs (at init, where Lambda's provisioned
concurrency or SnapStart pay for it ahead of any request) and nothing else (the figures are in
`make bench`)."""

import pytest
from local_stack.template import ROOT, function_directories, queue_triggers, schedule_triggers

from tests.infrastructure.fresh_interpreter import (
    CONNECT_BODY,
    CREATE_BODY,
    ESDK,
    JWT,
    OAUTH,
    REVOCATIONS,
    UPDATE_BODY,
    XRAY,
    loaded,
)

# One worker runs both fresh-interpreter modules, which share their reports (`loaded`).
pytestmark = pytest.mark.xdist_group("fresh_interpreters")

# Every request of these encrypts or decrypts; delete never does, nor do the scheduler and its
# shard scanner.
ENCRYPTING = {
    "create_credentials",
    "list_credentials",
    "get_credentials_by_provider",
    "get_credentials",
    "update_credentials",
    "refresh_credentials",
    "verify_credentials",
    "refresh_worker",
    "connect_credentials",
    "oauth_callback",
}
# These speak OAuth to the providers (refresh tokens, build an authorize URL, exchange a code):
# they need the provider clients (create and update only compute a schedule, which needs none).
REFRESHING = {
    "refresh_credentials",
    "verify_credentials",
    "refresh_worker",
    "connect_credentials",
    "oauth_callback",
}
# The callback signs the result it sends back to the return URL (a JWS): pyjwt. Step 1 never
# signs, and API keys are the default authentication (JWT verification loads pyjwt on demand).
SIGNING = {"oauth_callback"}
# A request body's model (building its validator is most of its import) is loaded by the route
# that validates it; the connect flow's two functions store what a connect makes (a create, or a
# reconnect's update) through the same models.
BODIES = {
    "create_credentials": {CREATE_BODY},
    "update_credentials": {UPDATE_BODY},
    "connect_credentials": {CONNECT_BODY, CREATE_BODY, UPDATE_BODY},
    "oauth_callback": {CONNECT_BODY, CREATE_BODY, UPDATE_BODY},
    # The revocation message (a pydantic model too): DELETE sends it, the worker reads it.
    "delete_credentials": {REVOCATIONS},
    "refresh_worker": {REVOCATIONS},
}
# No function loads at init the JWKS client (RS256 deployments only, on their first bearer token)
# or Powertools parameters (SSM: read by bearer tokens, refused callers and token writes, never
# by a request with an API key), nor the response bodies' models (the OpenAPI document's schemas:
# the generator's alone): all three are watched, and expected nowhere.


def all_functions() -> list[str]:
    routes = function_directories()
    triggered = {trigger.function.code_uri.name for trigger in [*schedule_triggers(), *queue_triggers()]}
    return routes + sorted(triggered)


def test_each_function_imports_at_init_what_its_requests_need_and_nothing_more() -> None:
    functions = all_functions()
    assert len(functions) == 13
    found = loaded(functions)
    for name in functions:
        expected = (
            sorted(({ESDK} if name in ENCRYPTING else set()) | BODIES.get(name, set()))
            + ([OAUTH] if name in REFRESHING else [])
            + ([JWT] if name in SIGNING else [])
        )
        assert found[name]["init"] == {"modules": sorted(expected), "tracer": "NoneType"}, name


def test_powertools_trace_disabled_keeps_the_xray_sdk_out_on_lambda_too() -> None:
    # Outside Lambda tracing is off anyway; on Lambda POWERTOOLS_TRACE_DISABLED turns it off. A
    # Tracer would import the X-Ray SDK all the same (off Lambda, with a botocore session and two
    # X-Ray clients for its sampler).
    found = loaded(["delete_credentials"], LAMBDA_TASK_ROOT=str(ROOT), POWERTOOLS_TRACE_DISABLED="true")
    assert found["delete_credentials"]["init"] == {"modules": [REVOCATIONS], "tracer": "NoneType"}


def test_on_lambda_the_handlers_are_traced() -> None:
    # On Lambda (LAMBDA_TASK_ROOT set) with tracing not disabled, the Tracer exists and wraps the
    # handlers (Tracing: Active in template.yaml).
    found = loaded(["delete_credentials", "refresh_scheduler"], LAMBDA_TASK_ROOT=str(ROOT))
    for name, entry in found.items():
        assert entry["init"] == {"modules": sorted({XRAY} | BODIES.get(name, set())), "tracer": "Tracer"}
