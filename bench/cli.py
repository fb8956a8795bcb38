"""`main`: the phases in order, then the table on stdout and in BENCHMARKS.md."""

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

import bench as package

from .calls import bare_calls, kms_reads, route_calls
from .cold_start import cold_start
from .common import Row, Sizes, log, quiet_stdout
from .cost import cost_table
from .growth import list_growth, other_orgs
from .pipeline import refresh_pipeline
from .report import REPORT_PATH, machine, render, write_report
from .size import SIZE_GOAL_MB, deployment_size
from .snapstart import snapstart_restore
from .stack import Bench
from .warm_cpu import cpu_breakdown, warm_cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="bench", description=package.__doc__.splitlines()[0] if package.__doc__ else None
    )
    parser.add_argument("--quick", action="store_true", help="few iterations (a smoke run); not written")
    parser.add_argument("--skip-build", action="store_true", help="no sam build (size row is n/a)")
    parser.add_argument("--output", type=Path, default=REPORT_PATH, help="report file (BENCHMARKS.md)")
    args = parser.parse_args(argv)
    sizes = Sizes()
    if args.quick:
        sizes = Sizes(
            cold_runs=3,
            count_requests=5,
            kms_reads=100,
            cpu_iterations=20,
            growth_iterations=5,
            other_org_rows=500,
            flat_iterations=20,
        )
    started = time.perf_counter()
    when = datetime.now(UTC)
    bench = Bench(sizes)
    try:
        cold_start(bench)
        snapstart_restore(bench)
        with quiet_stdout():
            bench.setup()
            measured = route_calls(bench)
            bench.make_bare(measured)
            bare_counts = bare_calls(bench)
            warm_cpu(bench, bare_counts)
            cpu_breakdown(bench)
            kms_reads(bench)
            list_growth(bench)
            refresh_inputs = refresh_pipeline(
                bench
            )  # before other orgs' rows: moto copies the table per transaction
            other_orgs(bench)
            cost_table(bench, refresh_inputs)
        if args.skip_build:
            bench.rows.append(
                Row(
                    "Deployment size",
                    "layer + one function, zipped",
                    "n/a: sam build skipped (--skip-build)",
                    f"≤ {SIZE_GOAL_MB:g} MB",
                    None,
                )
            )
        else:
            deployment_size(bench)
    finally:
        if bench.writer is not None:
            bench.writer.stop()
        bench.aws.stop()
    elapsed = time.perf_counter() - started
    header = [
        ("Date", when.strftime("%Y-%m-%d %H:%M UTC")),
        *machine(),
        (
            "Run",
            f"took {int(elapsed // 60)} min {int(elapsed % 60)} s" + (" (--quick)" if args.quick else ""),
        ),
    ]
    markdown = render(bench.rows, header, bench.notes, bench.sections)
    print(markdown)
    if not args.quick:
        write_report(markdown, args.output)
        log(f"written to {args.output}")
    log(f"done in {elapsed:.0f} s")
    return 0
