"""Warm CPU per request, service against bare boto3 (interleaved pairs, each route in blocks),
and where it goes: AWS calls, the Encryption SDK, the rest."""

from .common import FUNCTIONS, ROUTE_NAMES, ROUTE_ORG, CpuSpent, Row, Sample, X, log, median, ms
from .stack import Bench

CPU_ROUNDS = 4  # how many times the warm-CPU blocks of the routes come round
WARM_CPU_GOAL = 1.5


def warm_cpu(bench: Bench, bare_counts: dict[str, str]) -> None:
    n = bench.sizes.cpu_iterations
    log(f"warm CPU per request: {n} interleaved pairs per route (service, bare boto3)")
    for function in FUNCTIONS:
        if function == "delete_credentials":
            continue
        org = ROUTE_ORG[function]
        expected = 201 if function == "create_credentials" else 200
        for i in range(3):  # a few more warm-ups of both
            for bare in (False, True):
                run = bench.theirs if bare else bench.ours
                _, body = run(function, bench.route_event(function, org, 1000 + i, bare=bare), expected)
                if function == "create_credentials":
                    bench.forget(body, bare=bare)
    samples: dict[tuple[str, bool], list[Sample]] = {
        (f, bare): [] for f in FUNCTIONS for bare in (False, True)
    }
    # A warm Lambda instance serves one route again and again, so each route runs in a block of
    # its own; the blocks come round CPU_ROUNDS times, so every route's pairs are spread over
    # the whole phase and a slow or fast spell of the machine weighs on every route alike.
    block = max(1, n // CPU_ROUNDS)
    for start in range(0, n, block):
        for function in FUNCTIONS:
            for i in range(start, min(start + block, n)):
                if i % 20 == 0:
                    bench.aws.prune()
                for bare, sample, _spent in bench.run_pair(function, i + 10):
                    samples[(function, bare)].append(sample)
    for function in FUNCTIONS:
        ours, theirs = samples[(function, False)], samples[(function, True)]
        our_cpu = median([s.cpu for s in ours])
        bare_cpu = median([s.cpu for s in theirs])
        ratio = our_cpu / bare_cpu
        bench.warm[function] = Sample(our_cpu, median([s.wall for s in ours]))
        wall = median([s.wall for s in ours]) / median([s.wall for s in theirs])
        bench.rows.append(
            Row(
                "Warm CPU per request (service / bare boto3)",
                ROUTE_NAMES[function],
                f"{ratio:.2f}{X} ({ms(our_cpu)} vs {ms(bare_cpu)} CPU; latency {wall:.2f}{X}; "
                f"median of {n}; bare makes {bare_counts[function]})",
                f"≤ {WARM_CPU_GOAL}{X}",
                ratio <= WARM_CPU_GOAL,
            )
        )


def cpu_breakdown(bench: Bench) -> None:
    """Where each route's warm CPU goes, for information: a separate pass (the wrappers that
    split it cost a little), each route in a block, service and bare interleaved."""
    n = max(10, bench.sizes.cpu_iterations // 4)
    log(f"warm CPU breakdown: {n} interleaved pairs per route")
    for function in FUNCTIONS:
        totals = {False: CpuSpent(), True: CpuSpent()}
        for i in range(n):
            for bare, sample, spent in bench.run_pair(function, 5000 + i, split=True):
                assert spent is not None
                spent.total = sample.cpu
                totals[bare].add(spent)

        ours, theirs = totals[False], totals[True]
        rest = ours.total - ours.aws - ours.esdk
        bench.rows.append(
            Row(
                "Where the warm CPU goes (per request)",
                ROUTE_NAMES[function],
                f"service {ms(ours.total / n)} = AWS calls {ms(ours.aws / n)} + Encryption SDK "
                f"{ms(ours.esdk / n)} + the rest {ms(rest / n)}; bare {ms(theirs.total / n)} = AWS calls "
                f"{ms(theirs.aws / n)} + the rest {ms((theirs.total - theirs.aws) / n)} (mean of {n})",
                "(for information)",
                None,
            )
        )
