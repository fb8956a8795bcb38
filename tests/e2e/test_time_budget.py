"""The local stack keeps each function's Timeout as Lambda does, and a slow dependency is answered
with our 503 (Retry-After, `detail`) before it: never with the function error API Gateway gives
for an invocation Lambda stopped."""

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from local_stack.aws_faults import ANY_FUNCTION, RemoteFaults
from local_stack.lambda_runtime import FunctionPool
from local_stack.template import function_timeout

from .conftest import BASE, SEED_EXAMPLES, Api, Org, RunningStack

SLOW_SECONDS = 60.0


@pytest.fixture
def faults(stack: RunningStack) -> Iterator[RemoteFaults]:
    remote = RemoteFaults(stack.aws_endpoint)
    yield remote
    remote.heal()


def assert_unavailable(response: requests.Response, dependency: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers.get("Retry-After", "").isdigit()
    assert response.json() == {"detail": f"Service temporarily unavailable ({dependency}); retry later"}


def test_a_slow_kms_and_a_slow_dynamodb_are_503s_before_the_functions_timeout(
    api: Api, make_org: Callable[..., Org], faults: RemoteFaults
) -> None:
    # Given two orgs whose keys are cached, a KMS whose data keys and a DynamoDB whose queries
    # answer after a minute
    writer, reader = make_org(), make_org()
    for org in (writer, reader):
        assert api.get(BASE, org.key).status_code == 200
    faults.inject("kms", "slow", operations=["GenerateDataKey"], seconds=SLOW_SECONDS, callers=[ANY_FUNCTION])
    faults.inject("dynamodb", "slow", operations=["Query"], seconds=SLOW_SECONDS, callers=[ANY_FUNCTION])
    replies: dict[str, tuple[requests.Response, float]] = {}

    def timed(name: str, call: Callable[[], requests.Response]) -> None:
        started = time.monotonic()
        replies[name] = (call(), time.monotonic() - started)

    # When one creates and the other lists, at once
    threads = [
        threading.Thread(
            target=timed,
            args=("create", lambda: api.post(f"{BASE}/", writer.key, json=SEED_EXAMPLES["hubspot"])),
        ),
        threading.Thread(target=timed, args=("list", lambda: api.get(BASE, reader.key))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then each is our 503, before its function's Timeout
    create, create_seconds = replies["create"]
    listed, list_seconds = replies["list"]
    assert_unavailable(create, "KMS")
    assert_unavailable(listed, "DynamoDB")
    assert create_seconds < function_timeout("CreateCredentialsFunction"), create_seconds
    assert list_seconds < function_timeout("ListCredentialsFunction"), list_seconds
    # And nothing was written
    faults.heal()
    assert api.get(f"{BASE}/provider/hubspot", writer.key).status_code == 404


SLOW_HANDLER = """
import time

def handler(event, context):
    time.sleep(event["sleep"])
    return {"remaining_ms": context.get_remaining_time_in_millis()}
"""


def test_the_local_runtime_stops_an_invocation_at_the_functions_timeout(tmp_path: Path) -> None:
    # Given a function with a 1 s Timeout
    (tmp_path / "slow_handler.py").write_text(SLOW_HANDLER)
    pool = FunctionPool("SlowFunction", tmp_path, "slow_handler.handler", {}, max_instances=1, timeout=1.0)
    try:
        # Its context counts down from the Timeout
        status, result = pool.invoke({"sleep": 0})
        assert status == "ok" and 0 < result["remaining_ms"] <= 1000, (status, result)
        # When an invocation runs longer, it is stopped at the Timeout, as a function error
        started = time.monotonic()
        assert pool.invoke({"sleep": 30}) == ("error", "TimedOut")
        assert time.monotonic() - started < 5
        # And the next invocation gets a fresh instance
        status, result = pool.invoke({"sleep": 0})
        assert status == "ok", result
    finally:
        pool.stop()
