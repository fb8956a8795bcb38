"""How cost grows: a list of 1, 10 and 100 credentials, and a read with many other orgs' rows in
the table (against the bare handler's own ratio)."""

from .common import BenchError, Row, Sample, X, describe_calls, log, median, ms, num
from .stack import Bench

FLAT_GOAL = 1.1


def list_growth(bench: Bench) -> None:
    n = bench.sizes.growth_iterations
    log(f"list cost with 1, 10 and 100 credentials: {n} interleaved rounds")
    sizes = (1, 10, 100)
    function = "list_credentials"
    for size in sizes:
        for i in range(size):
            bench.create(f"n{size}", f"crm{i:03d}")
        bench.ours(function, bench.event(function, f"n{size}"))  # warm: data keys cached
    samples: dict[int, list[Sample]] = {size: [] for size in sizes}
    for i in range(n):
        order = sizes[i % 3 :] + sizes[: i % 3]
        for size in order:
            sample, body = bench.ours(function, bench.event(function, f"n{size}"))
            if len(body) != size:
                raise BenchError(f"list of an org with {size} credentials returned {len(body)}")
            samples[size].append(sample)
    bench.aws.reset()
    bench.ours(function, bench.event(function, "n100"))
    totals, text = describe_calls(bench.aws.calls(), 1)
    base_wall = median([s.wall for s in samples[1]])
    base_cpu = median([s.cpu for s in samples[1]])
    for size in sizes[1:]:
        wall = median([s.wall for s in samples[size]])
        cpu = median([s.cpu for s in samples[size]])
        worst = max(wall / base_wall, cpu / base_cpu)
        bench.rows.append(
            Row(
                "How cost grows",
                f"list, org with {size} credentials / org with 1",
                f"latency {wall / base_wall:.2f}{X}, CPU {cpu / base_cpu:.2f}{X} "
                f"({ms(wall)} / {ms(cpu)} CPU vs {ms(base_wall)} / {ms(base_cpu)}; median of {n})",
                f"≤ {size}{X} (at most linear)",
                worst <= size,
            )
        )
    bench.rows.append(
        Row(
            "How cost grows",
            "list of 100 credentials: AWS calls",
            text,
            "DynamoDB 1, KMS 0",
            totals["dynamodb"] <= 1 and totals["kms"] == 0,
        )
    )


def other_orgs(bench: Bench) -> None:
    n = bench.sizes.flat_iterations
    rows = bench.sizes.other_org_rows
    log(f"get by provider before and after {rows} other orgs' rows: {n} interleaved pairs each")
    function = "get_credentials_by_provider"
    path = {"provider": "salesforce"}

    def measure() -> tuple[list[Sample], list[Sample]]:
        ours: list[Sample] = []
        theirs: list[Sample] = []
        for i in range(n):
            our_event = bench.event(function, "main", path=path)
            bare_event = bench.event(function, "main", bare=True, path=path)
            if i % 2 == 0:
                ours.append(bench.ours(function, our_event)[0])
                theirs.append(bench.theirs(function, bare_event)[0])
            else:
                theirs.append(bench.theirs(function, bare_event)[0])
                ours.append(bench.ours(function, our_event)[0])
        return ours, theirs

    before, bare_before = measure()
    log(f"inserting {rows} rows of other orgs (BatchWriteItem)")
    bench.aws.fill_other_orgs(rows)
    after, bare_after = measure()
    bench.aws.reset()
    for _ in range(10):
        bench.ours(function, bench.event(function, "main", path=path))
    totals, _text = describe_calls(bench.aws.calls(), 10)
    wall = median([s.wall for s in after]) / median([s.wall for s in before])
    cpu = median([s.cpu for s in after]) / median([s.cpu for s in before])
    bare_wall = median([s.wall for s in bare_after]) / median([s.wall for s in bare_before])
    bare_cpu = median([s.cpu for s in bare_after]) / median([s.cpu for s in bare_before])
    # The bare handler reads by the same key in the same table, interleaved: what it drifts
    # by is the fake's and the machine's drift, not growth of the service's own.
    relative = wall / bare_wall
    bench.rows.append(
        Row(
            "How cost grows",
            f"get by provider with {rows:,} other orgs' rows in the table / without, "
            "against the bare handler's own ratio",
            f"{relative:.2f}{X} (latency {wall:.2f}{X}, CPU {cpu:.2f}{X}; bare boto3: latency "
            f"{bare_wall:.2f}{X}, CPU {bare_cpu:.2f}{X}); DynamoDB {num(totals['dynamodb'])}, "
            f"KMS {num(totals['kms'])} per request; median of {n}",
            f"≤ {FLAT_GOAL}{X} (flat), DynamoDB 1",
            relative <= FLAT_GOAL and totals["dynamodb"] <= 1,
        )
    )
