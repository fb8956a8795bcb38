"""What it costs: the figures this run measured (AWS calls per request counted at the endpoint,
CPU and latency, log bytes written, the size of a stored credential) times the list prices of
`prices`, for a month, beside the same work on AWS Secrets Manager.

Longer than 300 lines: the sizing rules, the per-route request units and the table are one
calculation, and read best in one place.
"""

import contextlib
import math
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field

from integration_credentials.adapters.storage.keys import id_mirror_key, org_count_key
from local_stack.template import load_template, resources_of_type

from . import prices
from .common import ROUTE_NAMES, ROUTE_ORG, Row, X, log
from .stack import Bench
from .units import (
    BEFORE_REFRESH_READ_UNITS,
    BEFORE_REFRESH_WRITE_UNITS,
    INDEX_ATTRIBUTES,
    LEASE_ATTRIBUTES,
    StoredSizes,
    item_size,
    read_units,
    refresh_units,
    refresh_units_dollars,
    write_units,
)

MONTH_SECONDS = 30 * 86_400
MINUTES_A_MONTH = MONTH_SECONDS // 60
STORED = 10_000
# The at-rest assumption: every stored credential is an OAuth credential with a refresh token
# and a one-hour access token (the worst case of the five refreshable CRMs but HubSpot's 30 min),
# refreshed REFRESH_MARGIN_SECONDS (900) before expiry: every 2,700 s.
TOKEN_LIFETIME_SECONDS = 3600
REFRESH_MARGIN_SECONDS = 900
REFRESH_INTERVAL_SECONDS = TOKEN_LIFETIME_SECONDS - REFRESH_MARGIN_SECONDS
REFRESHES_A_MONTH = STORED * MONTH_SECONDS / REFRESH_INTERVAL_SECONDS
# Lambda's SQS poller, idle: five long polls at a time (Lambda's documented floor with maximum
# concurrency set), each waiting up to 20 s (an assumption: the long-poll wait is not documented
# as a number there).
IDLE_POLLERS = 5
LONG_POLL_SECONDS = 20
# Platform lines Lambda writes per invocation in the Text log format, tracing on (their length
# as Lambda writes them, with made-up ids and numbers of the usual widths).
PLATFORM_LINES = (
    "START RequestId: 8f5e9a70-1c3b-4b8e-9c1d-1f2a3b4c5d6e Version: $LATEST\n"
    "END RequestId: 8f5e9a70-1c3b-4b8e-9c1d-1f2a3b4c5d6e\n"
    "REPORT RequestId: 8f5e9a70-1c3b-4b8e-9c1d-1f2a3b4c5d6e\tDuration: 5.12 ms\tBilled Duration: 6 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 98 MB\t\n"
    "XRAY TraceId: 1-5e1b4151-5ac6c58f2b6d3b8e7b9c0a1d\tSegmentId: 6b1a2c3d4e5f6a7b\tSampled: true\t\n"
)
# Representative values for the HTTP API access log format of the template.
ACCESS_LOG_VALUES = {
    "requestId": "JKJaXmPLvHcESHA=",
    "requestTime": "02/Dec/2026:03:18:50 +0000",
    "identity.sourceIp": "203.0.113.10",
    "routeKey": "GET /integration-credentials/provider/{provider}",
    "status": "200",
    "responseLength": "812",
    "responseLatency": "14",
    "integrationLatency": "12",
    "integrationErrorMessage": "-",
    "error.message": "-",
}
LOGICAL_IDS = {
    "create_credentials": "CreateCredentialsFunction",
    "list_credentials": "ListCredentialsFunction",
    "get_credentials_by_provider": "GetCredentialsByProviderFunction",
    "get_credentials": "GetCredentialsFunction",
    "update_credentials": "UpdateCredentialsFunction",
    "delete_credentials": "DeleteCredentialsFunction",
}
# Writes to the sparse refresh-due index per request (one index entry, under 1 KB): a create
# adds one, an update that moves the due time deletes and adds one, a delete removes one.
INDEX_WRITES = {"create_credentials": 1, "update_credentials": 2, "delete_credentials": 1}


@dataclass
class RefreshFigures:
    """One worker invocation of a batch, as the refresh phase measured it."""

    refreshes: int
    wall: float  # seconds of the invocation
    cpu: float  # CPU seconds of every thread of the process
    calls: dict[tuple[str, str], float]  # AWS calls per refresh
    log_bytes: float  # per refresh
    stored: StoredSizes | None = None  # what the refreshes wrote (set once the phase read it back)


@dataclass
class CostInputs:
    """What the cost table needs beyond the routes' figures (the refresh phase fills it)."""

    scheduler_idle_wall: float | None = None
    scheduler_idle_calls: dict[tuple[str, str], float] = field(default_factory=dict)
    scheduler_log_bytes: float = 0.0
    # A run's whole price when the scheduler fans out (fanout.py: dispatch, every range's visit,
    # the shard queue); the idle figures above are then the dispatch's, for the record.
    scheduler_run_dollars: float | None = None
    worker: dict[str, RefreshFigures] = field(default_factory=dict)  # "sequential"/"concurrent"


def memory_mb(logical_id: str) -> int:
    """A function's MemorySize (its own, else the Globals')."""
    props = resources_of_type("AWS::Serverless::Function")[logical_id]["Properties"]
    return int(props.get("MemorySize", load_template()["Globals"]["Function"]["MemorySize"]))


def billed_seconds(cpu: float, wall: float, memory: int) -> float:
    """Lambda's billed duration: the latency measured here, or the CPU measured here spread over
    the function's share of a vCPU if that is longer (1,769 MB is one vCPU), rounded up to 1 ms."""
    vcpu = min(1.0, memory / prices.LAMBDA_MB_PER_VCPU)
    return math.ceil(max(wall, cpu / vcpu) * 1000) / 1000


def lambda_cost(seconds: float, memory: int) -> float:
    return prices.LAMBDA_REQUEST.dollars + seconds * memory / 1024 * prices.LAMBDA_GB_SECOND_ARM.dollars


@contextlib.contextmanager
def stdout_bytes() -> Iterator[list[int]]:
    """Bytes written to file descriptor 1 while the block runs (the handlers' log lines, EMF
    metrics and audit records: what Lambda sends to CloudWatch Logs)."""
    sys.stdout.flush()
    saved = os.dup(1)
    counted = [0]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        try:
            yield counted
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            counted[0] = os.fstat(sink.fileno()).st_size


def access_log_bytes() -> int:
    """One HTTP API access log line: the template's format with representative values."""
    api = next(iter(resources_of_type("AWS::Serverless::HttpApi").values()))
    line = str(api["Properties"]["AccessLogSettings"]["Format"])
    for name, value in ACCESS_LOG_VALUES.items():
        line = line.replace(f"$context.{name}", value)
    return len(line.encode()) + 1


@dataclass
class Sizes:
    row: int
    mirror: int
    count: int
    index_entry: int
    org_rows: int  # the list route's org: every row of it


def measure_sizes(bench: Bench) -> Sizes:
    org = bench.orgs["main"]
    row, other1, other2 = bench.aws.items([(org, "salesforce"), (org, "hubspot"), (org, "pipedrive")])
    mirror_pk = id_mirror_key(row["id"]["S"])
    count_pk = org_count_key(org)
    mirror_key = (mirror_pk["org_id"]["S"], mirror_pk["provider"]["S"])
    count_key = (count_pk["org_id"]["S"], count_pk["provider"]["S"])
    mirror, count = bench.aws.items([mirror_key, count_key])
    index_entry = item_size({name: row[name] for name in INDEX_ATTRIBUTES if name in row})
    return Sizes(
        row=item_size(row),
        mirror=item_size(mirror),
        count=item_size(count),
        index_entry=index_entry,
        org_rows=item_size(row) + item_size(other1) + item_size(other2),
    )


def route_log_bytes(bench: Bench) -> dict[str, float]:
    """Log bytes a warm request of each route writes (handlers' own output)."""
    n = bench.sizes.count_requests
    written: dict[str, float] = {}
    for function in ROUTE_NAMES:
        org = ROUTE_ORG[function]
        expected = 201 if function == "create_credentials" else 200
        if function == "delete_credentials":
            for i in range(n):
                bench.create(org, f"log{i:05d}")
        events = []
        for i in range(n):
            if function == "delete_credentials":
                events.append(
                    bench.event(function, org, path={"credentials_id": bench.ids[(org, f"log{i:05d}")]})
                )
            else:
                events.append(bench.route_event(function, org, 7000 + i))
        created = []
        with stdout_bytes() as counted:
            for event in events:
                created.append(bench.ours(function, event, expected)[1])
        if function == "create_credentials":
            for body in created:
                bench.forget(body, bare=False)
        written[function] = counted[0] / n
    return written


def dynamodb_dollars(function: str, calls: dict[tuple[str, str], float], sizes: Sizes) -> float:
    """Request units of one request of a route, from the operations counted at the endpoint and
    the items each touches (strongly consistent reads; transactions cost twice)."""
    reads = writes = 0.0
    counted_items = function in {"create_credentials", "delete_credentials"}
    for (service, operation), count in calls.items():
        if service != "dynamodb":
            continue
        if operation == "GetItem":
            reads += count * read_units(max(sizes.row, sizes.mirror))
        elif operation == "Query":
            reads += count * read_units(sizes.org_rows)
        elif operation == "TransactWriteItems":
            items = write_units(sizes.row) + write_units(sizes.mirror)
            items += write_units(sizes.count) if counted_items else 0
            writes += count * 2 * items
        elif operation == "UpdateItem":
            writes += count * write_units(sizes.row)
    writes += INDEX_WRITES.get(function, 0)
    return reads * prices.DYNAMODB_READ_UNIT.dollars + writes * prices.DYNAMODB_WRITE_UNIT.dollars


def kms_requests(calls: dict[tuple[str, str], float]) -> float:
    return sum(count for (service, _), count in calls.items() if service == "kms")


def logs_dollars(log_bytes: float) -> float:
    return log_bytes / 1e9 * prices.LOGS_INGESTED_GB.dollars


def money(dollars: float) -> str:
    if dollars >= 100:
        return f"${dollars:,.0f}"
    if dollars >= 1:
        return f"${dollars:,.2f}"
    return f"${dollars:.4f}"


@dataclass
class Line:
    """One line of the cost table: this service and Secrets Manager, each with its parts."""

    work: str
    ours: dict[str, float]
    theirs: dict[str, float]
    alone: dict[str, float] | None = None

    @staticmethod
    def total(parts: dict[str, float] | None) -> float:
        return sum(parts.values()) if parts else float("nan")


def route_line(
    bench: Bench, function: str, label: str, sizes: Sizes, log_bytes: float, requests: float
) -> Line:
    calls = bench.calls_per_request[function]
    memory = memory_mb(LOGICAL_IDS[function])
    sample = bench.warm[function]
    seconds = billed_seconds(sample.cpu, sample.wall, memory)
    logs = log_bytes + len(PLATFORM_LINES) + access_log_bytes()
    ours = {
        "HTTP API": prices.HTTP_API_REQUEST.dollars,
        "Lambda": lambda_cost(seconds, memory),
        "DynamoDB": dynamodb_dollars(function, calls, sizes),
        "KMS": kms_requests(calls) * prices.KMS_REQUEST.dollars,
        "Logs": logs_dollars(logs),
    }
    # The same API and functions over Secrets Manager: one API call per request instead of
    # DynamoDB and KMS (GetSecretValue, or CreateSecret/PutSecretValue/DeleteSecret), the same
    # Lambda time and logs.
    theirs = {
        "HTTP API": ours["HTTP API"],
        "Lambda": ours["Lambda"],
        "Secrets Manager": prices.SECRETS_API_CALL.dollars,
        "Logs": ours["Logs"],
    }
    alone = {"Secrets Manager": prices.SECRETS_API_CALL.dollars}
    scale = {name: value * requests for name, value in ours.items()}
    return Line(
        label,
        scale,
        {name: value * requests for name, value in theirs.items()},
        {name: value * requests for name, value in alone.items()},
    )


def refresh_units_row(figures: RefreshFigures) -> Row:
    """The "DynamoDB per refresh" row: this run's units beside 7bf5d19's, goal halved at least."""
    stored = figures.stored
    if stored is None:
        raise ValueError("the worker phase did not size what it wrote")
    writes, reads = refresh_units(figures.calls, stored)
    now = refresh_units_dollars(writes, reads)
    before = refresh_units_dollars(BEFORE_REFRESH_WRITE_UNITS, BEFORE_REFRESH_READ_UNITS)
    goal = BEFORE_REFRESH_WRITE_UNITS / 2
    operations = ", ".join(
        f"{operation} {count:g}"
        for (service, operation), count in sorted(figures.calls.items())
        if service == "dynamodb"
    )
    return Row(
        "Refresh pipeline",
        "DynamoDB per refresh (request units)",
        f"{writes:g} WRU + {reads:.2f} RRU ({operations}; row {stored.row} B + lease "
        f"{item_size(LEASE_ATTRIBUTES)} B, mirror {stored.mirror} B, index entry moved): "
        f"{money(now * REFRESHES_A_MONTH)} a month for {STORED:,} one-hour credentials; at 7bf5d19 "
        f"{BEFORE_REFRESH_WRITE_UNITS:g} WRU + {BEFORE_REFRESH_READ_UNITS:.2f} RRU, "
        f"{money(before * REFRESHES_A_MONTH)} ({before / now:.1f}{X} now)",
        f"halved at least (≤ {goal:g} WRU; 7bf5d19: {BEFORE_REFRESH_WRITE_UNITS:g})",
        writes <= goal,
    )


def refresh_parts(figures: RefreshFigures, sizes: Sizes, memory: int) -> dict[str, float]:
    """What one refresh costs, from a measured worker invocation of a batch."""
    seconds = billed_seconds(figures.cpu, figures.wall, memory)
    per_invocation = lambda_cost(seconds, memory)
    calls = figures.calls
    # SQS: SendMessageBatch (scheduler), ReceiveMessage and DeleteMessageBatch (Lambda's poller),
    # each once per ten messages.
    sqs = 3 / 10 * prices.SQS_REQUEST.dollars
    logs = figures.log_bytes + len(PLATFORM_LINES) / figures.refreshes
    return {
        "Lambda": per_invocation / figures.refreshes,
        "DynamoDB": refresh_units_dollars(*refresh_units(calls, figures.stored))
        if figures.stored is not None
        else float("nan"),
        "KMS": kms_requests(calls) * prices.KMS_REQUEST.dollars,
        "SQS": sqs,
        "Logs": logs_dollars(logs),
    }


def at_rest_line(bench: Bench, sizes: Sizes, inputs: CostInputs, mode: str) -> tuple[Line, list[str]]:
    """A month of 10,000 stored credentials: storage, the key, the scheduler's runs, the
    poller, and the refreshes of their tokens (every one an OAuth credential, one-hour tokens)."""
    notes: list[str] = []
    per_credential = sizes.row + sizes.mirror + 2 * prices.DYNAMODB_ITEM_OVERHEAD_BYTES
    per_credential += sizes.index_entry + prices.DYNAMODB_ITEM_OVERHEAD_BYTES
    gigabytes = STORED * per_credential / 1e9
    scheduler_memory = memory_mb("RefreshSchedulerFunction")
    scheduler = 0.0
    if inputs.scheduler_idle_wall is not None:
        seconds = billed_seconds(0.0, inputs.scheduler_idle_wall, scheduler_memory)
        queries = sum(c for (s, _), c in inputs.scheduler_idle_calls.items() if s == "dynamodb")
        run = lambda_cost(seconds, scheduler_memory) + queries * 0.5 * prices.DYNAMODB_READ_UNIT.dollars
        run += logs_dollars(inputs.scheduler_log_bytes + len(PLATFORM_LINES))
        scheduler = (
            run if inputs.scheduler_run_dollars is None else inputs.scheduler_run_dollars
        ) * MINUTES_A_MONTH
    idle_polls = IDLE_POLLERS * MONTH_SECONDS / LONG_POLL_SECONDS * prices.SQS_REQUEST.dollars
    figures = inputs.worker.get(mode)
    refreshes: dict[str, float] = {}
    if figures is not None:
        one = refresh_parts(figures, sizes, memory_mb("RefreshWorkerFunction"))
        refreshes = {name: value * REFRESHES_A_MONTH for name, value in one.items()}
    else:
        notes.append("no worker figures: refreshes are left out of the at-rest line")
    storage_price = prices.DYNAMODB_STORAGE.dollars + prices.DYNAMODB_PITR.dollars
    ours = {
        "DynamoDB storage + PITR": gigabytes * storage_price,
        "KMS key": prices.KMS_KEY_MONTH.dollars,
        "scheduler (every minute)": scheduler,
        "SQS idle polling": idle_polls,
        **{f"refreshes: {name}": value for name, value in refreshes.items()},
    }
    # Secrets Manager: a secret per credential, each refresh one GetSecretValue and one
    # PutSecretValue instead of the DynamoDB and KMS calls; the same scheduler, queue, worker
    # time and logs (the due-time index and the lease would still need a table: left out).
    theirs = {
        "secrets": STORED * prices.SECRET_MONTH.dollars,
        "scheduler (every minute)": scheduler,
        "SQS idle polling": idle_polls,
    }
    if refreshes:
        for name in ("Lambda", "SQS", "Logs"):
            theirs[f"refreshes: {name}"] = refreshes[name]
        theirs["refreshes: Secrets Manager"] = REFRESHES_A_MONTH * 2 * prices.SECRETS_API_CALL.dollars
    return Line(f"at rest: {STORED:,} credentials, a month ({mode} worker)", ours, theirs), notes


def render_table(lines: list[Line]) -> str:
    def parts(values: dict[str, float] | None) -> str:
        if not values:
            return "—"
        shown = ", ".join(f"{name} {money(value)}" for name, value in values.items() if value >= 0.00005)
        return f"**{money(Line.total(values))}** ({shown})"

    columns = ["Work", "This service", "Secrets Manager behind the same API"]
    columns += ["Secrets Manager ÷ this service", "Secrets Manager alone"]
    rows = ["| " + " | ".join(columns) + " |", "|---|---|---|---|---|"]
    for line in lines:
        ratio = f"{Line.total(line.theirs) / Line.total(line.ours):.1f}{X}"
        cells = [line.work, parts(line.ours), parts(line.theirs), ratio, parts(line.alone)]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def render_prices() -> str:
    rows = ["| Price | Per | Source |", "|---|---|---|"]
    for name, price in prices.ALL.items():
        figure = price.dollars
        shown = f"${figure:.10f}".rstrip("0") if figure < 0.01 else f"${figure:.2f}"
        caveat = f" ({price.note})" if price.note else ""
        unconfirmed = " **not confirmed on an official page**" if not price.confirmed else ""
        rows.append(f"| {name}: {shown}{caveat} | {price.unit} | {price.source}{unconfirmed} |")
    return "\n".join(rows) + "\n"


def cost_table(bench: Bench, inputs: CostInputs) -> None:
    """The cost rows of the main table and the cost and price tables after it."""
    log("cost: log bytes per request, item sizes, prices")
    sizes = measure_sizes(bench)
    log_bytes = route_log_bytes(bench)
    million = 1_000_000
    lines = [
        route_line(
            bench,
            "get_credentials_by_provider",
            "a million reads (get by provider)",
            sizes,
            log_bytes["get_credentials_by_provider"],
            million,
        ),
        route_line(
            bench,
            "get_credentials",
            "a million reads (get by id)",
            sizes,
            log_bytes["get_credentials"],
            million,
        ),
        route_line(
            bench,
            "create_credentials",
            "a million writes (create)",
            sizes,
            log_bytes["create_credentials"],
            million,
        ),
        route_line(
            bench,
            "update_credentials",
            "a million writes (update)",
            sizes,
            log_bytes["update_credentials"],
            million,
        ),
    ]
    notes: list[str] = []
    for mode in ("sequential", "concurrent"):
        if mode in inputs.worker or (not inputs.worker and mode == "sequential"):
            line, extra = at_rest_line(bench, sizes, inputs, mode)
            lines.append(line)
            notes += extra
    for line in lines:
        ours, theirs = Line.total(line.ours), Line.total(line.theirs)
        bench.rows.append(
            Row(
                f"Cost (us-east-1 list prices of {prices.CHECKED})",
                line.work,
                f"{money(ours)}; Secrets Manager behind the same API {money(theirs)} "
                f"({theirs / ours:.1f}{X})",
                "(for information)",
                None,
            )
        )
    bench.rows.append(
        Row(
            "Cost inputs",
            "stored credential (DynamoDB item sizes); log bytes per request",
            f"row {sizes.row} B, id mirror {sizes.mirror} B, index entry {sizes.index_entry} B; logs: "
            + ", ".join(f"{ROUTE_NAMES[f].split(' (')[0]} {log_bytes[f]:.0f} B" for f in ROUTE_NAMES)
            + f" (+ {len(PLATFORM_LINES)} B platform lines, {access_log_bytes()} B access log)",
            "(for information)",
            None,
        )
    )
    assumptions = [
        f"Prices: {prices.REGION}, list prices checked {prices.CHECKED} (sources in the price table), "
        "no free tier, first volume tier. Lambda time: the latency measured here against moto "
        "or this run's CPU spread over the function's vCPU share, whichever is longer; DynamoDB "
        "answers in a few ms, not moto's loopback time, and every 10 ms more per request adds "
        f"{money(0.010 * 0.5 * prices.LAMBDA_GB_SECOND_ARM.dollars * million)} per million requests.",
        f"At rest: {STORED:,} credentials, every one OAuth with a one-hour token refreshed "
        f"{REFRESH_MARGIN_SECONDS} s before expiry ({REFRESHES_A_MONTH:,.0f} refreshes a month), storage "
        "as row + id mirror + index entry (+100 B each), the scheduler every minute, "
        f"{IDLE_POLLERS} idle long polls of {LONG_POLL_SECONDS} s on the queue; the KMS key is "
        "one per deployment whatever the count. Not counted: cold starts, X-Ray traces, the audit "
        "archive (Firehose, S3), data transfer.",
        "Secrets Manager behind the same API: the same HTTP API, Lambda time and logs, one API call per "
        "request instead of DynamoDB and KMS, a secret per credential; its refreshes make a "
        "GetSecretValue and a PutSecretValue, and the due-time index and lease (which would "
        "still need a table) and Secrets Manager's own KMS requests are left out. Secrets Manager "
        "alone: clients call it directly.",
        *notes,
    ]
    listed = "\n".join(f"- {assumption}" for assumption in assumptions)
    bench.sections.append(f"### What it costs, a month\n\n{render_table(lines)}\n{listed}\n")
    bench.sections.append("### Prices used\n\n" + render_prices())
