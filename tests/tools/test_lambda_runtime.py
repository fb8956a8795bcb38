"""The local Lambda runtime keeps each function's Timeout as Lambda does: the context counts down
from it, and an invocation running longer is stopped at it as a function error (that a slow
dependency is our 503 before it is tests/integration/test_time_budget.py)."""

import time
from pathlib import Path

from local_stack.lambda_runtime import FunctionPool

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
