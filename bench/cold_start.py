"""Cold start: a process importing each handler against one importing boto3, and what the
chosen stack, tracing and bytecode add (each variant a process of its own, interleaved)."""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from local_stack.template import ROOT

from .common import FUNCTIONS, ROUTE_NAMES, Row, X, log, median, ms
from .stack import Bench

COLD_START_GOAL = 1.3
LAYER_DIR = ROOT / "layers" / "common"


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
    import_calls = sum(bench.aws.calls().values())
    base = median(times["boto3"])

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
                text,
                f"≤ {COLD_START_GOAL}{X}",
                ratio <= COLD_START_GOAL,
            )
        )
    informative = [
        (
            "the chosen stack alone, no code of ours: boto3 + Powertools' validating HTTP resolver, "
            "Logger, Metrics, pydantic / `import boto3`",
            versus("floor")[1],
        ),
        ("the chosen stack plus the Encryption SDK / `import boto3`", versus("floor_esdk")[1]),
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
