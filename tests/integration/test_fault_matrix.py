"""Each fault kind against each route, the fault on every call to DynamoDB or to KMS: what the
route answers (docs/api.md "Dependency failures" states the same table). A 503 always has Retry-After
and the `detail`, and comes before the function's Timeout; "nothing written" is checked in the
table afterwards; "outcome unknown" is the one case the service cannot tell (every answer to the
write lost or late until the budget ends), and says so in its log."""

import time
import uuid

import fake_crms as fake
import pytest
from integration_credentials.adapters.crypto.cipher import clear_data_key_caches
from local_stack.aws_faults import ANY_FUNCTION

from tests.conftest import SEED_BODIES
from tests.integration.conftest import reset_process_state
from tests.integration.test_refresh import salesforce_body

TRUTH, NOTHING_WRITTEN, OUTCOME_UNKNOWN = "truth", "503, nothing written", "503, outcome unknown"
ROUTES = ("create", "create_with_key", "get", "get_by_provider", "list", "update", "delete", "refresh")
# (kind, times): the fault on every call, or on the first one only.
KINDS = {
    "throttle": ("throttle", None),
    "5xx": ("server_error", None),
    "reset": ("reset", None),
    "slow": ("slow", None),
    "lost": ("lost", None),
    "lost_once": ("lost", 1),
}
# Short: a fault that holds a call holds it until the budget is spent. A refresh that goes through
# needs its own Timeout: it starts only while a whole refresh fits.
TIMEOUT_SECONDS = 2.0
REFRESH_TIMEOUT_SECONDS = 29.0
SUCCESS = {"create": 201, "create_with_key": 201, "refresh": 200}


def expected(service, kind, route):
    """What the route gets (the table docs/api.md states)."""
    if kind == "lost_once" or (service == "kms" and route == "delete"):
        return TRUTH
    if service == "dynamodb" and route == "create" and kind in ("slow", "lost"):
        # The credentials transaction itself is held or unanswered: it may have committed.
        return OUTCOME_UNKNOWN
    return NOTHING_WRITTEN


CASES = [
    pytest.param(service, kind, route, id=f"{service}-{kind}-{route}")
    for service in ("dynamodb", "kms")
    for kind in KINDS
    for route in ROUTES
]


@pytest.mark.parametrize(("service", "kind", "route"), CASES)
def test_what_each_route_gets_under_each_fault(
    api, stack, org_headers, salesforce_endpoint, captured_logs, service, kind, route
):
    outcome = expected(service, kind, route)
    timeout = REFRESH_TIMEOUT_SECONDS if route == "refresh" and outcome == TRUTH else TIMEOUT_SECONDS
    # Given stored credentials (refreshable), read once (caches warm); for a fault that botocore's
    # retry gets past, an instance whose retry quota is whole (the earlier cases drained it, and
    # botocore then stops retrying)
    if kind == "lost_once":
        reset_process_state()
    salesforce_endpoint(fake.salesforce())
    existing = api.create(org_headers, salesforce_body()).json
    api.get(org_headers, existing["id"])
    if service == "kms":
        clear_data_key_caches()  # reads decrypt with KMS (a cold instance's data-key cache)
    body = SEED_BODIES["hubspot"]
    calls = {
        "create": lambda: api.create(org_headers, body, timeout_seconds=TIMEOUT_SECONDS),
        "create_with_key": lambda: api.create(
            org_headers,
            body,
            headers_extra={"Idempotency-Key": str(uuid.uuid4())},
            timeout_seconds=TIMEOUT_SECONDS,
        ),
        "get": lambda: api.get(org_headers, existing["id"], timeout_seconds=TIMEOUT_SECONDS),
        "get_by_provider": lambda: api.get_by_provider(
            org_headers, "salesforce", timeout_seconds=TIMEOUT_SECONDS
        ),
        "list": lambda: api.list(org_headers, timeout_seconds=TIMEOUT_SECONDS),
        "update": lambda: api.update(
            org_headers,
            existing["id"],
            {"access_token": "updated-under-fault"},
            timeout_seconds=TIMEOUT_SECONDS,
        ),
        "delete": lambda: api.delete(org_headers, existing["id"], timeout_seconds=TIMEOUT_SECONDS),
        "refresh": lambda: api.refresh(org_headers, existing["id"], timeout_seconds=timeout),
    }
    fault, times = KINDS[kind]
    # When every call to the service fails so (the first one only, for lost_once)
    stack.aws.inject(
        service, fault, times=times, seconds=60.0 if fault == "slow" else 0.0, callers=[ANY_FUNCTION]
    )
    started = time.monotonic()
    reply = calls[route]()
    elapsed = time.monotonic() - started
    stack.aws.heal()
    # Then the answer is the one the table gives
    assert elapsed < timeout, elapsed
    if outcome == TRUTH:
        assert reply.status == SUCCESS.get(route, 200), reply.raw
        check_written(api, org_headers, route, existing, reply)
        return
    assert reply.status == 503, reply.raw
    assert reply.headers.get("Retry-After", "").isdigit()
    dependency = "DynamoDB" if service == "dynamodb" else "KMS"
    assert reply.json == {"detail": f"Service temporarily unavailable ({dependency}); retry later"}
    if outcome == OUTCOME_UNKNOWN:
        assert "write outcome unknown" in captured_logs.getvalue()
        return
    check_nothing_written(api, org_headers, route, existing)


def check_written(api, headers, route, existing, reply):
    if route in ("create", "create_with_key"):
        assert api.get_by_provider(headers, "hubspot").json == reply.json
    elif route == "update":
        assert api.get(headers, existing["id"]).json["access_token"] == "updated-under-fault"
    elif route == "delete":
        assert api.get(headers, existing["id"]).status == 404
    elif route == "refresh":
        assert api.get(headers, existing["id"]).json["access_token"] == fake.NEW_ACCESS_TOKEN
    else:
        assert reply.json == ([existing] if route == "list" else existing)


def check_nothing_written(api, headers, route, existing):
    assert api.get_by_provider(headers, "hubspot").status == 404
    current = api.get(headers, existing["id"])
    assert current.status == 200
    assert current.json == existing
    assert current.headers["ETag"] == '"1"'
