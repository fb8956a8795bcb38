"""How far the refresh pipeline scales: the real scheduler handler over 1,000 due credentials,
the real worker handler on a batch of ten SQS messages against a token endpoint that answers in
300 ms (one record after the other, and at once), and from those figures (and the template's
defaults and the services' quotas) the credentials a deployment keeps fresh.

Longer than 300 lines: the provider (the fake Salesforce in a process of its own), the two
measured handlers and the capacity arithmetic that reads their figures are one phase.
"""

import copy
import json
import math
import multiprocessing
import os
import time
import uuid
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

import boto3
from fake_crms import Crm, FakeServer
from integration_credentials.adapters.storage.keys import id_mirror_key
from integration_credentials.core.constants import DEFAULT_PROVIDER_LIMIT
from integration_credentials.core.settings import get_settings
from integration_credentials.logic.refresh import token_refresher
from local_stack.lambda_runtime import FakeLambdaContext, load_app
from local_stack.sources import schedule_seconds
from local_stack.template import ROOT, function_timeout, parameter_defaults, queue_triggers

from . import prices
from .common import BenchError, Row, X, describe_calls, log, median, ms
from .cost import (
    REFRESH_INTERVAL_SECONDS,
    CostInputs,
    RefreshFigures,
    billed_seconds,
    lambda_cost,
    memory_mb,
    refresh_units_row,
    stdout_bytes,
)
from .fanout import ScannerFigures, fanout_phase, sizing_rows
from .stack import Bench
from .units import INDEX_ATTRIBUTES, StoredSizes, item_size

PROVIDER_LATENCY_SECONDS = 0.3
DUE_ROWS = 1000
BATCH = 10
TARGET_CREDENTIALS = 1_000_000
TARGETS = (TARGET_CREDENTIALS, 10_000_000)
# What an in-region DynamoDB, KMS or SQS call is taken to take on Lambda (an assumption: the
# embedded AWS here is neither as fast nor as parallel).
AWS_CALL_SECONDS = 0.010
PROVIDERS = ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics")
# Sources of the quotas the settings for a million are checked against.
QUOTAS = {
    "account concurrency 1,000 (default)": "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html",
    "SQS MaximumConcurrency 2-1,000": "https://docs.aws.amazon.com/lambda/latest/dg/API_ScalingConfig.html",
    "SQS BatchSize up to 10,000 (standard queue, with a batching window)": (
        "https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-parameters.html"
    ),
    "DynamoDB 3,000 RRU / 1,000 WRU per partition": (
        "https://repost.aws/knowledge-center/on-demand-table-throttling-dynamodb"
    ),
}


# ---- the provider: a token endpoint in a process of its own ------------------------------------


def _serve_tokens(conn: Connection, latency: float, client: dict[str, str]) -> None:
    """Child process: the fake Salesforce, knowing the stack's OAuth client and taking every
    refresh token as one it issued, answering after `latency` seconds; it counts the requests
    and the most served at once."""
    server = FakeServer(Crm("salesforce", client, adopt_refresh_tokens=True, latency=latency)).start()
    conn.send(f"http://127.0.0.1:{server.server_address[1]}/services/oauth2/token")
    while True:
        try:
            command = conn.recv()
        except (EOFError, OSError):
            break
        if command == "stats":
            conn.send({"count": server.served, "most": server.most_at_once})
        elif command == "reset":
            server.reset_counts()
            conn.send(None)
        else:
            break
    server.stop()


class TokenEndpoint:
    """The fake provider's process: its URL, and what it served."""

    def __init__(self, latency: float, client: dict[str, str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve_tokens, args=(child, latency, client), daemon=True)
        self._process.start()
        child.close()
        self.url = str(self._conn.recv())

    def stats(self) -> dict[str, int]:
        self._conn.send("stats")
        return dict(self._conn.recv())

    def reset(self) -> None:
        self._conn.send("reset")
        self._conn.recv()

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()


# ---- the scheduler ----------------------------------------------------------------------------


def _tune(**values: str) -> None:
    os.environ.update(values)
    get_settings.cache_clear()
    token_refresher.cache_clear()


def _timed(handler: Any, event: dict[str, Any], function: str, logical_id: str) -> tuple[float, float, Any]:
    """CPU of every thread of this process (the worker's pool included; moto and the provider
    run in processes of their own) and wall time of one invocation."""
    context = FakeLambdaContext(
        function_name=function, aws_request_id=str(uuid.uuid4()), timeout_seconds=function_timeout(logical_id)
    )
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = handler(event, context)
    return time.process_time() - cpu0, time.perf_counter() - wall0, result


def scheduler_phase(bench: Bench, inputs: CostInputs) -> ScannerFigures:
    """The fanned-out scheduler's figures: `fanout`."""
    return fanout_phase(bench, inputs, _tune)


# ---- the worker -------------------------------------------------------------------------------


def _worker_event(messages: list[dict[str, str]]) -> dict[str, Any]:
    sample = json.loads((ROOT / "events" / "refresh_worker.json").read_text())
    records = []
    for body in messages:
        record = copy.deepcopy(sample["Records"][0])
        record["messageId"] = str(uuid.uuid4())
        record["receiptHandle"] = uuid.uuid4().hex
        record["body"] = json.dumps(body)
        records.append(record)
    return {"Records": records}


def worker_phase(bench: Bench, inputs: CostInputs) -> None:
    rounds = max(2, bench.sizes.count_requests // 4)
    log(f"refresh worker: {rounds} batches of {BATCH} against a {PROVIDER_LATENCY_SECONDS:g} s provider")
    # The OAuth client the stack provisioned (and the worker reads): the fake knows the same.
    prefix = bench.aws.resources.refs["OAuthClientParameterPrefix"]
    stored = boto3.client("ssm").get_parameter(Name=prefix + "salesforce", WithDecryption=True)
    endpoint = TokenEndpoint(PROVIDER_LATENCY_SECONDS, json.loads(stored["Parameter"]["Value"]))
    try:
        _tune(OAUTH_TOKEN_URL_SALESFORCE=endpoint.url)
        made: list[tuple[str, str]] = []

        def due_batch(tag: str) -> list[dict[str, str]]:
            """Ten new due credentials, each in an org of its own, written by the create
            function's own instance: the worker decrypts what it did not write and encrypts
            under a new data key, as a refresh 45 minutes after the last one does."""
            batch = []
            for i in range(BATCH):
                org_name = f"worker-{tag}-{i:02d}"
                credentials_id = bench.create(org_name, "salesforce")
                batch.append({"org_id": bench.orgs[org_name], "provider": "salesforce", "id": credentials_id})
                made.append((bench.orgs[org_name], credentials_id))
            bench.aws.make_due([(message["org_id"], "salesforce") for message in batch], 1)
            return batch

        handler = load_app("refresh_worker", "bench_refresh_worker_app").lambda_handler
        for mode, concurrency in (("sequential", 1), ("concurrent", 10)):
            _tune(REFRESH_WORKER_CONCURRENCY=str(concurrency))
            samples: list[tuple[float, float]] = []
            written = 0
            calls_total: Counter[tuple[str, str]] = Counter()
            endpoint.reset()
            for round_index in range(rounds + 1):
                messages = due_batch(f"{mode}{round_index}")
                bench.aws.reset()
                with stdout_bytes() as counted:
                    cpu, wall, result = _timed(
                        handler, _worker_event(messages), "refresh_worker", "RefreshWorkerFunction"
                    )
                if result != {"batchItemFailures": []}:
                    raise BenchError(f"the worker answered {str(result)[:300]}")
                if round_index == 0:  # warm-up: clients, cipher, OAuth client
                    endpoint.reset()
                    continue
                samples.append((cpu, wall))
                written += counted[0]
                calls_total.update(bench.aws.calls())
            stats = endpoint.stats()
            if stats["count"] != rounds * BATCH:
                raise BenchError(f"the provider saw {stats['count']} refreshes, expected {rounds * BATCH}")
            refreshes = rounds * BATCH
            figures = RefreshFigures(
                refreshes=BATCH,
                wall=median([w for _, w in samples]),
                cpu=median([c for c, _ in samples]),
                calls={key: count / refreshes for key, count in calls_total.items()},
                log_bytes=written / refreshes,
            )
            inputs.worker[mode] = figures
            memory = memory_mb("RefreshWorkerFunction")
            billed = billed_seconds(figures.cpu, figures.wall, memory)
            _totals, text = describe_calls(calls_total, refreshes)
            bench.rows.append(
                Row(
                    "Refresh pipeline",
                    f"worker, a batch of {BATCH} against a {PROVIDER_LATENCY_SECONDS * 1000:.0f} ms "
                    f"provider, REFRESH_WORKER_CONCURRENCY {concurrency}",
                    f"{figures.wall * 1000:.0f} ms wall, {ms(figures.cpu)} CPU (median of {rounds}): "
                    f"{BATCH / figures.wall:.1f} refreshes/s; at most {stats['most']} at the provider "
                    "at once; "
                    f"per refresh {text}; one invocation {money_of(lambda_cost(billed, memory))} of Lambda "
                    f"({billed * 1000:.0f} ms billed at {memory} MB)",
                    "(for information)",
                    None,
                )
            )
        rows = [(org, "salesforce") for org, _ in made]
        mirrors = [(id_mirror_key(credentials_id)["org_id"]["S"], "ID") for _, credentials_id in made]
        # What a refresh writes, as refreshed here: the largest row and mirror (the write units
        # per refresh are priced from them, `units.refresh_units`).
        refreshed = bench.aws.items(rows)
        left = StoredSizes(
            row=max(item_size(item) for item in refreshed),
            mirror=max(item_size(item) for item in bench.aws.items(mirrors)),
            index_entry=max(
                item_size({name: item[name] for name in INDEX_ATTRIBUTES if name in item})
                for item in refreshed
            ),
        )
        for figures in inputs.worker.values():
            figures.stored = left
        bench.aws.delete_items(rows + mirrors)
        bench.rows.append(refresh_units_row(inputs.worker["concurrent"]))
    finally:
        endpoint.stop()
        _tune(REFRESH_WORKER_CONCURRENCY="10")


def money_of(dollars: float) -> str:
    return f"${dollars:.7f}"


# ---- what a deployment sustains ---------------------------------------------------------------


def lambda_batch_seconds(figures: RefreshFigures, concurrency: int, vcpu: float) -> float:
    """A batch's duration on Lambda if each AWS call takes AWS_CALL_SECONDS (embedded AWS serves
    one request at a time, so concurrent refreshes queue for it here): its rounds of provider
    latency and calls, or its CPU over the vCPU share, whichever is longer."""
    calls = sum(figures.calls.values())
    rounds = math.ceil(figures.refreshes / concurrency)
    return max(rounds * (PROVIDER_LATENCY_SECONDS + calls * AWS_CALL_SECONDS), figures.cpu / vcpu)


def capacity(bench: Bench, inputs: CostInputs, scheduler: ScannerFigures) -> None:
    defaults = parameter_defaults()
    workers = int(defaults["RefreshMaxConcurrency"])
    period = schedule_seconds(defaults["RefreshSchedule"])
    (trigger,) = [trigger for trigger in queue_triggers() if trigger.function.name == "RefreshWorkerFunction"]
    settings = get_settings()
    per_run = settings.refresh_batch_limit
    memory = memory_mb("RefreshWorkerFunction")
    vcpu = min(1.0, memory / prices.LAMBDA_MB_PER_VCPU)
    scheduler_rate = per_run / period
    provider_rate = DEFAULT_PROVIDER_LIMIT / period
    group = f"Refresh capacity (one-hour tokens, refreshed every {REFRESH_INTERVAL_SECONDS} s)"
    for mode, concurrency in (("sequential", 1), ("concurrent", 10)):
        figures = inputs.worker.get(mode)
        if figures is None:
            continue
        per_worker = figures.refreshes / billed_seconds(figures.cpu, figures.wall, memory)
        on_lambda = figures.refreshes / lambda_batch_seconds(figures, concurrency, vcpu)
        rate = min(workers * per_worker, scheduler_rate)
        sustained = rate * REFRESH_INTERVAL_SECONDS
        bench.rows.append(
            Row(
                group,
                f"at the defaults, REFRESH_WORKER_CONCURRENCY {concurrency} ({workers} workers, BatchSize "
                f"{trigger.batch_size}, {defaults['RefreshSchedule']}, REFRESH_BATCH_LIMIT {per_run:,})",
                f"{sustained:,.0f} credentials: {rate:.1f} refreshes/s (workers {workers} {X} "
                f"{per_worker:.1f}/s as measured here, {on_lambda:.1f}/s on Lambda at "
                f"{AWS_CALL_SECONDS * 1000:.0f} ms an AWS call; scheduler {scheduler_rate:.1f}/s); "
                f"one provider at most {provider_rate * REFRESH_INTERVAL_SECONDS:,.0f} "
                f"(REFRESH_PROVIDER_LIMITS {DEFAULT_PROVIDER_LIMIT:,} a run)",
                f"{TARGET_CREDENTIALS:,}",
                sustained >= TARGET_CREDENTIALS,
            )
        )
        if mode != "concurrent":
            continue
        sizing_rows(
            bench,
            scheduler,
            group=group,
            targets=TARGETS,
            interval=REFRESH_INTERVAL_SECONDS,
            period=period,
            per_worker=per_worker,
            on_lambda=on_lambda,
            aws_call_seconds=AWS_CALL_SECONDS,
        )
        bench.notes.append(
            f"Refresh capacity: a worker's measured rate is {BATCH} refreshes over its billed duration here "
            "(latency against embedded AWS, which serves one request at a time, or CPU over the vCPU "
            f"share if longer); the Lambda estimate takes {AWS_CALL_SECONDS * 1000:.0f} ms per AWS call "
            f"(an assumption) and the provider's {PROVIDER_LATENCY_SECONDS * 1000:.0f} ms. A shard scanner's "
            "visit scales from its 1,000-due visit's CPU per credential (moto's SQS is slow: its wall time "
            "here is not SQS's), plus its calls at the same assumed latency; the run's limit is the refresh "
            "rate times the schedule's period plus 15%, and the index writes assume each refresh moves its "
            "entry (2 WCU) with credentials spread evenly over the shards. Quotas: "
            + "; ".join(f"{name} ({source})" for name, source in QUOTAS.items())
            + ". Not known here: each provider's own token-endpoint rate limits (REFRESH_PROVIDER_LIMITS "
            "should stay under them) and the account's KMS request quota."
        )


def refresh_pipeline(bench: Bench) -> CostInputs:
    """The scheduler's and the worker's figures (for the table and the cost table)."""
    inputs = CostInputs()
    scheduler = scheduler_phase(bench, inputs)
    worker_phase(bench, inputs)
    capacity(bench, inputs, scheduler)
    return inputs
