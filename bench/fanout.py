"""The fanned-out scheduler, measured: the real scheduler handler dispatching a run (one message per
range of the refresh-due index's shards on the FIFO shard queue), the real shard scanner handler
on each of those messages with nothing due, and on one range's message with 1,000 due in its
shards; from those, what a scanner's visit takes at 1,000,000 and 10,000,000 credentials
(its share of the run's limit), against half of its Timeout.

`pipeline` calls `fanout_phase` for the scheduler's figures and `sizing_rows` for the capacity
table; the cost table reads the run's price from `CostInputs`. Longer than 300 lines: the three
measured invocations, their rows and the sizing that reads them belong together.
"""

import json
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from integration_credentials.adapters.storage.keys import refresh_shard
from integration_credentials.core.constants import REFRESH_SHARDS
from integration_credentials.logic.scheduler import ShardVisit, run_id_of, shard_ranges
from local_stack.events import sqs_event
from local_stack.lambda_runtime import FakeLambdaContext, load_app
from local_stack.template import ROOT, function_timeout, parameter_defaults

from . import prices
from .common import BenchError, Row, describe_calls, log, median, ms
from .cost import CostInputs, billed_seconds, lambda_cost, logs_dollars, memory_mb, stdout_bytes
from .stack import Bench

DUE_ROWS = 1000
PROVIDERS = ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics")
SCHEDULER = "RefreshSchedulerFunction"
SCANNER = "RefreshShardScannerFunction"
# SQS FIFO requests (the shard queue): $0.50 per million, https://aws.amazon.com/sqs/pricing/.
SQS_FIFO_REQUEST_DOLLARS = 0.50 / 1_000_000
# Lambda's SQS pollers' long polls on the shard queue while it is empty (as cost.py assumes for
# the refresh queue): five pollers, one 20 s poll each at a time.
IDLE_POLLS_A_MINUTE = 5 * 60 / 20


@dataclass
class ScannerFigures:
    """A shard scanner's measured visits: one with nothing due, one with DUE_ROWS due."""

    idle_cpu: float
    idle_wall: float
    due_cpu: float
    due_wall: float
    due_calls: float

    @property
    def cpu_per_item(self) -> float:
        """CPU per credential enqueued, beyond a visit's fixed part."""
        return max(0.0, self.due_cpu - self.idle_cpu) / DUE_ROWS


def _context(function: str, logical_id: str) -> FakeLambdaContext:
    return FakeLambdaContext(
        function_name=function, aws_request_id=str(uuid.uuid4()), timeout_seconds=function_timeout(logical_id)
    )


def _timed(handler: Any, event: dict[str, Any], function: str, logical_id: str) -> tuple[float, float, Any]:
    context = _context(function, logical_id)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = handler(event, context)
    return time.process_time() - cpu0, time.perf_counter() - wall0, result


def _receive_all(sqs: Any, url: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
        "Messages", []
    ):
        found.extend(batch)
    return found


def _ids_in(shards: tuple[str, ...], count: int) -> list[str]:
    """`count` credential ids whose shard is one of `shards`, spread evenly over them."""
    wanted = set(shards)
    found: list[str] = []
    while len(found) < count:
        candidate = str(uuid.uuid4())
        if refresh_shard(candidate) in wanted:
            found.append(candidate)
    return found


def fanout_phase(bench: Bench, inputs: CostInputs, tune: Any) -> ScannerFigures:
    """Measure a run's dispatch and its visits; rows for the table, the run's price for the cost."""
    refs = bench.aws.resources.refs
    shard_queue, refresh_queue = refs["RefreshShardQueue"], refs["RefreshQueue"]
    tune(REFRESH_SHARD_QUEUE_URL=shard_queue, REFRESH_QUEUE_URL=refresh_queue)
    ranges = int(parameter_defaults()["RefreshShardScanners"])
    tune(REFRESH_SHARD_SCANNERS=str(ranges))
    log(
        f"refresh scheduler: a run of {ranges} ranges, each scanned with nothing due; one with {DUE_ROWS} due"
    )
    sqs = boto3.client("sqs")
    arn = bench.aws.resources.attributes[("RefreshShardQueue", "Arn")]
    dispatcher = load_app("refresh_scheduler", "bench_refresh_scheduler_app").lambda_handler
    scanner = load_app("refresh_shard_scanner", "bench_refresh_shard_scanner_app").lambda_handler
    sample = json.loads((ROOT / "events" / "refresh_scheduler.json").read_text())

    def dispatch() -> tuple[float, float, Any]:
        return _timed(dispatcher, sample | {"id": str(uuid.uuid4())}, "refresh_scheduler", SCHEDULER)

    def visit(message: dict[str, Any]) -> tuple[float, float, Any]:
        event = sqs_event([message], arn, "us-east-1")
        result = _timed(scanner, event, "refresh_shard_scanner", SCANNER)
        if result[2] != {"batchItemFailures": []}:
            raise BenchError(f"the shard scanner answered {str(result[2])[:300]}")
        # What Lambda's poller then does (not the function's call: taken out of the counts below).
        sqs.delete_message(QueueUrl=shard_queue, ReceiptHandle=message["ReceiptHandle"])
        return result

    def function_calls() -> Any:
        calls = bench.aws.calls()
        calls.pop(("sqs", "DeleteMessage"), None)
        return calls

    # Warm both (clients, models), then a measured run: the dispatch, and each range's visit.
    dispatch()
    for message in _receive_all(sqs, shard_queue):
        visit(message)
    bench.aws.reset()
    with stdout_bytes() as dispatch_log:
        dispatch_cpu, dispatch_wall, summary = dispatch()
    dispatch_calls = bench.aws.calls()
    if summary.get("visits") != ranges or summary.get("shards") != REFRESH_SHARDS:
        raise BenchError(f"the scheduler dispatched {summary}")
    messages = _receive_all(sqs, shard_queue)
    if len(messages) != ranges:
        raise BenchError(f"the shard queue holds {len(messages)} messages, expected {ranges}")
    bench.aws.reset()
    idle: list[tuple[float, float]] = []
    with stdout_bytes() as visit_log:
        for message in messages:
            cpu, wall, _result = visit(message)
            idle.append((cpu, wall))
    idle_calls = function_calls()

    # One range's visit with DUE_ROWS due in its shards (the whole limit its own).
    shards = shard_ranges(ranges)[0]
    rows = []
    for i, credentials_id in enumerate(_ids_in(shards, DUE_ROWS)):
        org = f"bench-fan-{i:05d}-{uuid.uuid4().hex[:8]}"
        rows.append(
            (org, PROVIDERS[i % len(PROVIDERS)], credentials_id, refresh_shard(credentials_id), 1000 + i)
        )
    bench.aws.put_due_rows(rows)
    busy = ShardVisit(
        run=run_id_of(str(uuid.uuid4())),
        due_by=1000 + DUE_ROWS,
        shards=shards,
        limit=DUE_ROWS,
        default_provider_limit=DUE_ROWS,
    )
    sqs.send_message(
        QueueUrl=shard_queue,
        MessageBody=busy.model_dump_json(),
        MessageGroupId=f"shards-{shards[0]}",
        MessageDeduplicationId=f"{busy.run}:{shards[0]}",
    )
    (message,) = _receive_all(sqs, shard_queue)
    bench.aws.reset()
    due_cpu, due_wall, _result = visit(message)
    due_calls = function_calls()
    sqs.purge_queue(QueueUrl=refresh_queue)
    bench.aws.delete_items([(org, provider) for org, provider, *_ in rows])
    if due_calls.get(("sqs", "SendMessageBatch"), 0) != DUE_ROWS // 10:
        raise BenchError(f"the shard scanner sent {due_calls} for {DUE_ROWS} due credentials")

    figures = ScannerFigures(
        idle_cpu=median([cpu for cpu, _ in idle]),
        idle_wall=median([wall for _, wall in idle]),
        due_cpu=due_cpu,
        due_wall=due_wall,
        due_calls=float(sum(due_calls.values())),
    )
    _totals, dispatch_text = describe_calls(dispatch_calls, 1)
    _totals, idle_text = describe_calls(idle_calls, ranges)
    _totals, due_text = describe_calls(due_calls, 1)
    sends = math.ceil(ranges / 10)
    bench.rows.append(
        Row(
            "Refresh pipeline",
            f"scheduler run: dispatch {ranges} ranges of the {REFRESH_SHARDS} shards (RefreshShardScanners)",
            f"{ms(dispatch_wall)} wall, {ms(dispatch_cpu)} CPU; {dispatch_text}",
            f"SendMessageBatch {sends}, nothing else, whatever is stored",
            dict(dispatch_calls) == {("sqs", "SendMessageBatch"): sends},
        )
    )
    bench.rows.append(
        Row(
            "Refresh pipeline",
            f"shard scanner, a range of {REFRESH_SHARDS // ranges} shards, nothing due (median of {ranges})",
            f"{ms(figures.idle_wall)} wall, {ms(figures.idle_cpu)} CPU; per visit {idle_text}",
            "one query per shard of its range, nothing else",
            dict(idle_calls) == {("dynamodb", "Query"): REFRESH_SHARDS},
        )
    )
    bench.rows.append(
        Row(
            "Refresh pipeline",
            f"shard scanner, {DUE_ROWS:,} due in its range (in {len(PROVIDERS)} providers)",
            f"{ms(due_wall)} wall, {ms(due_cpu)} CPU ({figures.cpu_per_item * 1e6:.0f} µs CPU a credential); "
            f"{due_text}",
            f"SendMessageBatch {DUE_ROWS // 10}, no read beyond the index",
            due_calls.get(("sqs", "SendMessageBatch"), 0) == DUE_ROWS // 10
            and {service for service, _ in due_calls} == {"dynamodb", "sqs"}
            and {operation for service, operation in due_calls if service == "dynamodb"} == {"Query"},
        )
    )
    # A run's price: the dispatch and every range's visit (nothing due: the refreshes' own
    # scanning is priced per refresh), the shard queue's requests and its idle polls, the logs.
    scheduler_memory, scanner_memory = memory_mb(SCHEDULER), memory_mb(SCANNER)
    run = lambda_cost(billed_seconds(dispatch_cpu, dispatch_wall, scheduler_memory), scheduler_memory)
    run += ranges * lambda_cost(
        billed_seconds(figures.idle_cpu, figures.idle_wall, scanner_memory), scanner_memory
    )
    run += REFRESH_SHARDS * 0.5 * prices.DYNAMODB_READ_UNIT.dollars
    run += (sends + 2 * ranges + IDLE_POLLS_A_MINUTE) * SQS_FIFO_REQUEST_DOLLARS
    run += logs_dollars(dispatch_log[0] + visit_log[0])
    inputs.scheduler_run_dollars = run
    inputs.scheduler_idle_wall = dispatch_wall
    inputs.scheduler_idle_calls = dict(dispatch_calls + idle_calls)
    inputs.scheduler_log_bytes = float(dispatch_log[0] + visit_log[0])
    return figures


def visit_seconds(figures: ScannerFigures, items: int, shards: int, aws_call_seconds: float) -> float:
    """A shard scanner's visit enqueueing `items` over `shards` shards on Lambda: its CPU as measured
    here over its share of a vCPU, plus its AWS calls (a query per shard and per 1,000 items, a
    SendMessageBatch per ten) at `aws_call_seconds` each."""
    vcpu = min(1.0, memory_mb(SCANNER) / prices.LAMBDA_MB_PER_VCPU)
    calls = shards + math.ceil(items / 1000) + math.ceil(items / 10)
    return (figures.idle_cpu + items * figures.cpu_per_item) / vcpu + calls * aws_call_seconds


def sizing_rows(
    bench: Bench,
    figures: ScannerFigures,
    *,
    group: str,
    targets: tuple[int, ...],
    interval: float,
    period: float,
    per_worker: float,
    on_lambda: float,
    aws_call_seconds: float,
) -> None:
    """For each number of credentials: the settings that carry it (workers, the run's limit, the
    ranges), a visit's duration against half the scanner's Timeout, the index's writes per shard."""
    timeout = function_timeout(SCANNER)
    default_ranges = int(parameter_defaults()["RefreshShardScanners"])
    for target in targets:
        rate = target / interval
        run_limit = math.ceil(rate * period / 1000 * 1.15) * 1000
        # The template's ranges, or more (a divisor of the shards: equal ranges) until a visit fits
        # a quarter of the Timeout: twice the headroom of the goal (half), for a slower machine.
        ranges = next(
            (
                count
                for count in (1, 2, 4, 8, 16, 32, REFRESH_SHARDS)
                if count >= default_ranges
                and visit_seconds(
                    figures, math.ceil(run_limit / count), REFRESH_SHARDS // count, aws_call_seconds
                )
                <= timeout / 4
            ),
            REFRESH_SHARDS,
        )
        items = math.ceil(run_limit / ranges)
        seconds = visit_seconds(figures, items, REFRESH_SHARDS // ranges, aws_call_seconds)
        workers = math.ceil(rate / per_worker * 1.25)
        lambda_workers = math.ceil(rate / on_lambda * 1.25)
        # Each refresh moves its index entry (a delete and a put in the index: 2 WCU), spread evenly.
        index_writes = rate * 2 / REFRESH_SHARDS
        # Lambda's default quota: 1,000 concurrent executions in the account (the workers, the
        # scanners of a run, the API): beyond it, the quota increase to ask for.
        concurrency = max(workers, lambda_workers) + ranges
        raised = math.ceil(concurrency / 0.9 / 100) * 100
        quota = (
            "within the default 1,000 concurrent executions"
            if concurrency <= 900
            else f"Lambda concurrent executions raised to {raised:,} (default 1,000)"
        )
        bench.rows.append(
            Row(
                group,
                f"settings that carry {target:,} ({rate:,.0f} refreshes/s)",
                f"RefreshBatchLimit {run_limit:,}, RefreshShardScanners {ranges} ({items:,} credentials a "
                f"visit: {seconds:.1f} s on Lambda of the scanner's Timeout {timeout:.0f} s), "
                f"RefreshMaxConcurrency {workers} ({per_worker:.1f}/s each as measured here; "
                f"{lambda_workers} at the Lambda estimate), REFRESH_PROVIDER_LIMITS ≥ "
                f"{math.ceil(rate * period):,} for a provider holding them all; index writes "
                f"{index_writes:,.0f} WCU/s per shard of {REFRESH_SHARDS}; {quota}",
                "a visit ≤ half the scanner's Timeout; ≤ 1,000 WCU/s per index partition; the quota "
                "named where the default is short",
                seconds <= timeout / 2 and index_writes <= 1000,
            )
        )
