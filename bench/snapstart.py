"""SnapStart: what a restored instance no longer pays (the interpreter, the imports and init of a
function, done once when a version is published) against what it pays instead (the after-restore
hooks), and what the before-snapshot hooks add to the snapshot. CPU of one process each run."""

import json
import os
import subprocess
import sys
import tempfile

from local_stack.template import ROOT

from .cold_start import LAYER_DIR
from .common import Row, X, log, median, ms
from .stack import Bench

FUNCTION = "get_credentials"
RESTORE_GOAL = 0.01

# Each step's CPU in one process: start and init (process_time counts from the process's start),
# then the hooks as the runtime runs them (before snapshot: last registered first).
_CHILD = """
import json, sys, time
sys.path[:0] = {paths!r}
import app
import snapshot_restore_py as hooks
init = time.process_time()
for func, args, kwargs in reversed(hooks.get_before_snapshot()):
    func(*args, **kwargs)
before = time.process_time() - init
start = time.process_time()
for func, args, kwargs in hooks.get_after_restore():
    func(*args, **kwargs)
print(json.dumps({{"init": init, "before": before, "after": time.process_time() - start}}))
"""


def snapstart_restore(bench: Bench) -> None:
    runs = bench.sizes.cold_runs
    log(f"snapstart: {runs} processes importing get by id and running its SnapStart hooks")
    code = _CHILD.format(paths=[str(ROOT / "functions" / FUNCTION), str(LAYER_DIR)])
    samples: dict[str, list[float]] = {"init": [], "before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="bench-snapstart-pyc-") as cached:
        env = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cached
        for run in range(runs + 1):  # the first run writes bytecode and warms the page cache
            result = subprocess.run(  # noqa: S603 - our own interpreter and code
                [sys.executable, "-c", code], env=env, check=True, capture_output=True, text=True
            )
            if run:
                for name, value in json.loads(result.stdout.splitlines()[-1]).items():
                    samples[name].append(value)
    init, before, after = (median(samples[name]) for name in ("init", "before", "after"))
    ratio = after / init
    bench.rows.append(
        Row(
            "SnapStart",
            "get by id: CPU of the after-restore hooks a restored instance runs / the interpreter "
            "start, imports and init it no longer runs",
            f"{ratio:.4f}{X} ({ms(after)} vs {ms(init)}, median of {runs})",
            f"≤ {RESTORE_GOAL}{X}",
            ratio <= RESTORE_GOAL,
        )
    )
    bench.rows.append(
        Row(
            "SnapStart",
            "get by id: CPU of the before-snapshot hooks (service models, pyjwt; once per published "
            "version, in the snapshot) / the interpreter start, imports and init",
            f"{before / init:.2f}{X} ({ms(before)} vs {ms(init)}, median of {runs})",
            "(for information)",
            None,
        )
    )
    log(f"snapstart: init {ms(init)}, after-restore hooks {ms(after)}")
