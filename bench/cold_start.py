"""Cold start: a process importing each handler against one importing boto3, and what the
chosen stack, tracing and bytecode add (each variant a process of its own, interleaved); then
the same processes once more under callgrind, whose instruction counts do not move with the
machine's load."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_stack.template import ROOT

from .common import FUNCTIONS, ROUTE_NAMES, Row, X, log, median, ms
from .stack import Bench

COLD_START_GOAL = 1.3
# Our code's share of a cold start, in instructions: a handler's process over the chosen stack
# plus the Encryption SDK's.
INSTRUCTIONS_GOAL = 1.05
LAYER_DIR = ROOT / "layers" / "common"
VALGRIND = shutil.which("valgrind") or "/usr/bin/valgrind"
_COLLECTED = re.compile(r"Collected : (\d+)")


def cold_start(bench: Bench) -> None:
    runs = bench.sizes.cold_runs
    log(f"cold start: {runs} interleaved runs of `import boto3` and of each handler module")
    get = "get_credentials"
    with (
        tempfile.TemporaryDirectory(prefix="bench-pyc-") as cached,
        tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty,
    ):
        variants = cold_start_variants(Path(cached), Path(empty))
        times: dict[str, list[float]] = {name: [] for name in variants}
        bench.aws.reset()
        names = list(variants)
        for run in range(runs + 1):  # the first round warms the page cache and writes bytecode
            order = names[run % len(names) :] + names[: run % len(names)]
            for name in order:
                code, env = variants[name]
                start = time.perf_counter()
                subprocess.run(  # noqa: S603 - our own interpreter and code
                    [sys.executable, "-c", code], env=env, check=True, stdout=subprocess.DEVNULL
                )
                if run:
                    times[name].append(time.perf_counter() - start)
        counted = ["boto3", "floor_esdk", *FUNCTIONS]
        log(f"cold start: instructions of {len(counted)} processes under callgrind (one each)")
        counts = {name: instructions(*variants[name]) for name in counted}
    import_calls = sum(bench.aws.calls().values())
    base = median(times["boto3"])

    def counted_text(name: str, reference: str) -> str:
        mine, theirs = counts[name], counts[reference]
        if mine is None or theirs is None:
            return "instructions n/a (no valgrind)"
        return f"{mine / 1e6:,.0f} M vs {theirs / 1e6:,.0f} M instructions"

    def versus(name: str, reference: str = "boto3") -> tuple[float, str]:
        ratio = median(times[name]) / median(times[reference])
        compared = f"{ms(median(times[name]))} vs {ms(median(times[reference]))}, median of {runs}"
        return ratio, f"{ratio:.2f}{X} ({compared})"

    for function in FUNCTIONS:
        ratio, text = versus(function)
        bench.rows.append(
            Row(
                "Cold start",
                f"{ROUTE_NAMES[function]}: process importing the handler / `import boto3`",
                f"{text}; {counted_text(function, 'boto3')}",
                f"≤ {COLD_START_GOAL}{X}",
                ratio <= COLD_START_GOAL,
            )
        )
    for function in FUNCTIONS:
        mine, stack = counts[function], counts["floor_esdk"]
        share = mine / stack if mine is not None and stack is not None else None
        bench.rows.append(
            Row(
                "Cold start",
                f"{ROUTE_NAMES[function]}: our code's share, in instructions (callgrind, one process): "
                "process importing the handler / the chosen stack plus the Encryption SDK",
                f"{share:.3f}{X} ({counted_text(function, 'floor_esdk')})"
                if share is not None
                else "n/a (no valgrind)",
                f"≤ {INSTRUCTIONS_GOAL}{X}",
                share <= INSTRUCTIONS_GOAL if share is not None else None,
            )
        )
    informative = [
        (
            "the chosen stack alone, no code of ours: boto3 + Powertools' validating HTTP resolver, "
            "Logger, Metrics, pydantic / `import boto3`",
            versus("floor")[1],
        ),
        (
            "the chosen stack plus the Encryption SDK / `import boto3`",
            f"{versus('floor_esdk')[1]}; {counted_text('floor_esdk', 'boto3')}",
        ),
        (
            "our own code's share: get by id / the chosen stack plus the Encryption SDK",
            versus(get, "floor_esdk")[1],
        ),
        (
            "get by id with tracing on, as on Lambda (`Tracing: Active`: Tracer + X-Ray SDK) / tracing off",
            versus("get_traced", get)[1],
        ),
        (
            "get by id without bytecode (a layer without `__pycache__` on read-only /opt compiles "
            "every module at every cold start) / with bytecode",
            versus("get_no_bytecode", get)[1],
        ),
        ("`import boto3` without bytecode / with bytecode", versus("boto3_no_bytecode")[1]),
    ]
    for figure, value in informative:
        bench.rows.append(Row("Cold start", figure, value, "(for information)", None))
    bench.rows.append(
        Row(
            "Cold start",
            f"AWS calls made while importing ({runs * len(variants)} processes)",
            str(import_calls),
            "0",
            import_calls == 0,
        )
    )
    log(f"cold start: import boto3 {ms(base)}")


def instructions(code: str, env: dict[str, str]) -> int | None:
    """The instructions one process running `code` executes, start to exit (callgrind's
    `Collected`); None where valgrind is missing."""
    if not Path(VALGRIND).exists():
        return None
    with tempfile.TemporaryDirectory(prefix="bench-callgrind-") as out:
        result = subprocess.run(  # noqa: S603 - valgrind and our own interpreter and code
            [
                VALGRIND,
                "--tool=callgrind",
                f"--callgrind-out-file={out}/callgrind.out",
                sys.executable,
                "-c",
                code,
            ],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    found = _COLLECTED.search(result.stderr)
    return int(found.group(1)) if found else None


def cold_start_variants(cached: Path, empty: Path) -> dict[str, tuple[str, dict[str, str]]]:
    """Each process the cold-start rows time: its code and environment (the functions' own, from
    the bench's). Bytecode is written to and read from `cached` (never the project tree), as a
    deployment ships it (layers/common/Makefile); the "without bytecode" variants look in the
    empty `empty` and may not write, so every import compiles its module from source."""
    with_bytecode = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
    with_bytecode["PYTHONPYCACHEPREFIX"] = str(cached)
    without_bytecode = {**with_bytecode, "PYTHONPYCACHEPREFIX": str(empty), "PYTHONDONTWRITEBYTECODE": "1"}

    def handler(function: str) -> str:
        paths = [str(ROOT / "functions" / function), str(LAYER_DIR)]
        return f"import sys; sys.path[:0] = {paths!r}; import app"

    get = handler("get_credentials")
    traced = {name: value for name, value in with_bytecode.items() if name != "POWERTOOLS_TRACE_DISABLED"}
    traced["LAMBDA_TASK_ROOT"] = str(ROOT / "functions" / "get_credentials")  # Powertools: on Lambda
    variants = {"boto3": ("import boto3", with_bytecode)}
    variants.update({function: (handler(function), with_bytecode) for function in FUNCTIONS})
    floor = (
        "import boto3; from aws_lambda_powertools import Logger, Metrics; "
        "from aws_lambda_powertools.event_handler import APIGatewayHttpResolver; "
        "from aws_lambda_powertools.event_handler.openapi.params import Body, Path; "
        "from pydantic import BaseModel; APIGatewayHttpResolver(enable_validation=True)"
    )
    variants["floor"] = (floor, with_bytecode)
    variants["floor_esdk"] = (
        f"{floor}; import aws_encryption_sdk; "
        "from aws_encryption_sdk.materials_managers.caching import CachingCryptoMaterialsManager",
        with_bytecode,
    )
    variants["get_traced"] = (get, traced)
    variants["get_no_bytecode"] = (get, without_bytecode)
    variants["boto3_no_bytecode"] = ("import boto3", without_bytecode)
    return variants
