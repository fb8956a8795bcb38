"""`make bench`: how close the service is to the floor of a credentials request on Lambda.

Runs on this machine, with no cloud account: the six real handlers in this process against
embedded AWS (moto) in a process of its own (`bench_aws`), side by side with bare boto3 handlers
(`bench_bare`). Prints one markdown table and writes it, with the machine's description and the
date, between the markers of BENCHMARKS.md (which explains the method).

Every figure is a count taken at the AWS endpoint or a ratio of two things measured side by side
in the same run, never a fixed time. Goals are reported (Met? yes/no), never enforced: the
benchmark exits 0 whatever it finds; it exits non-zero only if the service answers wrongly.
"""

import argparse
import contextlib
import copy
import importlib.util
import json
import os
import platform
import secrets
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import Any

import botocore.client
from integration_credentials.constants import ID_MIRROR_PREFIX
from integration_credentials.crypto import CredentialsCipher

from .bench_aws import BenchAws
from .bench_bare import ID_PREFIX as BARE_ID_PREFIX
from .bench_bare import BareService
from .lambda_runtime import FakeLambdaContext, FunctionPool
from .template import ROOT, function_directories, function_environment

# The seed's six routes. The refresh route is left out: its cost is the provider's token request.
FUNCTIONS = [name for name in function_directories() if name != "refresh_credentials"]
ROUTE_NAMES = {
    "create_credentials": "create (POST /)",
    "list_credentials": "list (GET /)",
    "get_credentials_by_provider": "get by provider (GET /provider/{provider})",
    "get_credentials": "get by id (GET /{id})",
    "update_credentials": "update (PUT /{id})",
    "delete_credentials": "delete (DELETE /{id})",
}
# Which org each route's measured requests use (delete's rows are made per request).
ROUTE_ORG = {
    "create_credentials": "create",
    "list_credentials": "main",
    "get_credentials_by_provider": "main",
    "get_credentials": "main",
    "update_credentials": "update",
    "delete_credentials": "delete",
}
READ_ROUTES = {"list_credentials", "get_credentials_by_provider", "get_credentials"}
BY_ID_ROUTES = {"get_credentials", "update_credentials", "delete_credentials"}
LAYER_DIR = ROOT / "layers" / "common"
REPORT_PATH = ROOT / "BENCHMARKS.md"
START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"
DEFAULT_SAM = "uv tool run --from aws-sam-cli==1.170.0 sam"
PACKAGES = [
    "aws-lambda-powertools",
    "boto3",
    "botocore",
    "aws-encryption-sdk",
    "cryptography",
    "pydantic",
    "moto",
]
# Goals of the issue.
COLD_START_GOAL = 1.3
CPU_ROUNDS = 4  # how many times the warm-CPU blocks of the routes come round
WARM_CPU_GOAL = 1.5
SIZE_GOAL_MB = 15.0
FLAT_GOAL = 1.1
X = "\N{MULTIPLICATION SIGN}"

_STARTED = time.perf_counter()
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


class BenchError(RuntimeError):
    """The service answered something other than what the benchmark asked for."""


@dataclass
class Row:
    """One line of the table."""

    group: str
    figure: str
    value: str
    goal: str
    met: bool | None


@dataclass
class Sample:
    """CPU time of the calling thread and wall time of one handler call, in seconds."""

    cpu: float
    wall: float


@dataclass
class CpuSpent:
    """Thread CPU seconds, split by where they went."""

    total: float = 0.0
    aws: float = 0.0  # in AWS API calls (botocore: build, sign, send, parse)
    esdk: float = 0.0  # in the Encryption SDK's local work (less the KMS calls it makes)

    def add(self, other: "CpuSpent") -> None:
        self.total += other.total
        self.aws += other.aws
        self.esdk += other.esdk


@contextlib.contextmanager
def cpu_split() -> Iterator[CpuSpent]:
    """Thread CPU spent, while the block runs, in AWS API calls and in the Encryption SDK's local
    work (the cipher's encrypt and decrypt, less the KMS calls made inside them)."""
    spent = CpuSpent()
    inside_cipher = [0]
    client_class = botocore.client.BaseClient
    api_call = vars(client_class)["_make_api_call"]
    encrypt, decrypt = CredentialsCipher.encrypt, CredentialsCipher.decrypt

    def timed_call(client: Any, operation: str, params: Any) -> Any:
        start = time.thread_time()
        try:
            return api_call(client, operation, params)
        finally:
            used = time.thread_time() - start
            spent.aws += used
            if inside_cipher[0]:
                spent.esdk -= used

    def timed_cipher(method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            inside_cipher[0] += 1
            try:
                return method(*args, **kwargs)
            finally:
                inside_cipher[0] -= 1
                spent.esdk += time.thread_time() - start

        return timed

    setattr(client_class, "_make_api_call", timed_call)  # noqa: B010 - a private method of botocore's
    setattr(CredentialsCipher, "encrypt", timed_cipher(encrypt))  # noqa: B010 - patched for the block
    setattr(CredentialsCipher, "decrypt", timed_cipher(decrypt))  # noqa: B010
    try:
        yield spent
    finally:
        setattr(client_class, "_make_api_call", api_call)  # noqa: B010
        setattr(CredentialsCipher, "encrypt", encrypt)  # noqa: B010
        setattr(CredentialsCipher, "decrypt", decrypt)  # noqa: B010


@dataclass
class Sizes:
    """Iteration counts (smaller with --quick)."""

    cold_runs: int = 20
    count_requests: int = 20
    kms_reads: int = 1000
    cpu_iterations: int = 200
    growth_iterations: int = 40
    other_org_rows: int = 10_000
    flat_iterations: int = 150


def log(message: str) -> None:
    """Progress on stderr (stdout carries the table; handlers' own output is discarded)."""
    print(f"[bench {time.perf_counter() - _STARTED:5.0f} s] {message}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def quiet_stdout() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null: the handlers' audit lines, EMF metrics and logs are
    written (as on Lambda, where they go to the log stream), just not to the terminal."""
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def num(value: float) -> str:
    return str(round(value)) if abs(value - round(value)) < 1e-9 else f"{value:.2f}"


def _load_function(name: str) -> ModuleType:
    """A function's app.py as Lambda loads it (module globals of its own)."""
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"bench_{name}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Events:
    """API Gateway HTTP API events built from events/*.json."""

    def __init__(self) -> None:
        self._templates = {
            name: json.loads((ROOT / "events" / f"{name}.json").read_text()) for name in FUNCTIONS
        }

    def make(
        self,
        function: str,
        api_key: str,
        *,
        path: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        event: dict[str, Any] = copy.deepcopy(self._templates[function])
        event["headers"] = {k: v for k, v in event["headers"].items() if k not in {"x-api-key"}}
        event["headers"]["x-api-key"] = api_key
        if path is not None:
            event["pathParameters"] = dict(path)
            route = event["routeKey"].split(" ", 1)[1]
            raw = route
            for name, value in path.items():
                raw = raw.replace("{" + name + "}", value)
            event["rawPath"] = event["requestContext"]["http"]["path"] = raw
        event.pop("body", None)
        if body is not None:
            event["body"] = json.dumps(body)
            event["headers"]["content-type"] = "application/json"
        event["requestContext"]["requestId"] = str(uuid.uuid4())
        return event


def create_body(provider: str) -> dict[str, Any]:
    """The seed's Salesforce example, for another provider."""
    return {
        "provider": provider,
        "dsn": "https://mycompany.salesforce.com",
        "access_token": "00D5g000001234567!AQYAQ" + secrets.token_hex(16),
        "metadata": {
            "instance_url": "https://mycompany.salesforce.com",
            "api_version": "v58.0",
            "refresh_token": "5Aep861" + secrets.token_hex(8),
            "token_type": "Bearer",
        },
    }


def call(handler: Handler, function: str, event: dict[str, Any], expected: int) -> tuple[Sample, Any]:
    """Invoke one handler; CPU is the calling thread's (moto runs in another process)."""
    context = FakeLambdaContext(function_name=function, aws_request_id=str(uuid.uuid4()))
    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    response = handler(event, context)
    wall = time.perf_counter() - wall0
    cpu = time.thread_time() - cpu0
    status = response.get("statusCode")
    if status != expected:
        raise BenchError(
            f"{function} answered {status}, expected {expected}: {str(response.get('body'))[:300]}"
        )
    body = response.get("body")
    return Sample(cpu, wall), json.loads(body) if body else None


def describe_calls(calls: Counter[tuple[str, str]], requests: int) -> tuple[dict[str, float], str]:
    """Per-request totals by service and a readable breakdown."""
    totals: dict[str, float] = {"dynamodb": 0.0, "kms": 0.0}
    by_service: dict[str, list[str]] = {}
    for (service, operation), count in sorted(calls.items()):
        totals[service] = totals.get(service, 0.0) + count / requests
        by_service.setdefault(service, []).append(f"{operation} {num(count / requests)}")
    parts = []
    labels = {"dynamodb": "DynamoDB", "kms": "KMS", "ssm": "SSM"}
    for service in ["dynamodb", "kms", *sorted(set(totals) - {"dynamodb", "kms"})]:
        detail = f" ({', '.join(by_service[service])})" if by_service.get(service) else ""
        parts.append(f"{labels.get(service, service)} {num(totals[service])}{detail}")
    return totals, " · ".join(parts)


class Bench:
    """Holds the stack, the handlers and the data every measurement uses."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.aws = BenchAws(jwt_secret=secrets.token_urlsafe(32))
        os.environ.update(self.aws.credentials)
        os.environ["AWS_ENDPOINT_URL"] = self.aws.endpoint
        resources = self.aws.resources
        os.environ.update(function_environment(resources.refs, resources.attributes))
        # Outside Lambda the Powertools tracer is off anyway; say so explicitly (see BENCHMARKS.md).
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
        self.events = Events()
        self.handlers: dict[str, Handler] = {}
        self.orgs: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.ids: dict[tuple[str, str], str] = {}
        self.bare: BareService | None = None
        self.bare_keys: dict[str, str] = {}
        self.bare_ids: dict[tuple[str, str], str] = {}
        self.writer: FunctionPool | None = None

    # -- plumbing ----------------------------------------------------------------------------

    def ours(self, function: str, event: dict[str, Any], expected: int = 200) -> tuple[Sample, Any]:
        return call(self.handlers[function], function, event, expected)

    def theirs(self, function: str, event: dict[str, Any], expected: int = 200) -> tuple[Sample, Any]:
        assert self.bare is not None
        bare_handler = self.bare.handlers[function]
        return call(lambda e, _c: bare_handler(e), function, event, expected)

    def org(self, name: str) -> str:
        """An org of the service, with an API key."""
        if name not in self.orgs:
            self.orgs[name] = f"bench-{name}-{uuid.uuid4()}"
            self.keys[name] = self.aws.mint_api_key(self.orgs[name])
        return self.orgs[name]

    def bare_org(self, name: str) -> str:
        """An org of the bare handlers (its key is in their warm lookup)."""
        key = f"bare-key-{name}"
        if key not in self.bare_keys:
            self.bare_keys[key] = f"bare-{name}-{uuid.uuid4()}"
        return self.bare_keys[key]

    def event(self, function: str, org: str, *, bare: bool = False, **kwargs: Any) -> dict[str, Any]:
        key = f"bare-key-{org}" if bare else self.keys[org]
        return self.events.make(function, key, **kwargs)

    def create(self, org: str, provider: str, *, bare: bool = False) -> str:
        if bare:
            self.bare_org(org)
        else:
            self.org(org)
        event = self.event("create_credentials", org, bare=bare, body=create_body(provider))
        body = self.theirs("create_credentials", event, 201)[1] if bare else self.write_elsewhere(event)
        (self.bare_ids if bare else self.ids)[(org, provider)] = str(body["id"])
        return str(body["id"])

    def write_elsewhere(self, event: dict[str, Any]) -> Any:
        """Create through the create function's own instance (a process of its own, as on
        Lambda): what the measured instances then read, they did not write, so their caches
        start as a reading Lambda's do."""
        if self.writer is None:
            code_dir = ROOT / "functions" / "create_credentials"
            # FunctionPool names a function by its logical id (it reads its Timeout from the template).
            self.writer = FunctionPool(
                "CreateCredentialsFunction", code_dir, "app.lambda_handler", dict(os.environ), 1
            )
        outcome, response = self.writer.invoke(event)
        if outcome != "ok" or response.get("statusCode") != 201:
            raise BenchError(f"seeding create answered {outcome} {str(response)[:300]}")
        return json.loads(response["body"])

    def route_event(self, function: str, org: str, i: int, *, bare: bool = False) -> dict[str, Any]:
        """The i-th request of a route for an org, as the benchmark uses them."""
        ids = self.bare_ids if bare else self.ids
        if function == "create_credentials":
            return self.event(function, org, bare=bare, body=create_body(f"p{i:05d}-{secrets.token_hex(3)}"))
        if function == "list_credentials":
            return self.event(function, org, bare=bare)
        if function == "get_credentials_by_provider":
            return self.event(function, org, bare=bare, path={"provider": "salesforce"})
        if function == "get_credentials":
            return self.event(function, org, bare=bare, path={"credentials_id": ids[(org, "salesforce")]})
        if function == "update_credentials":
            body = {"access_token": f"NEW_ACCESS_TOKEN_{i}", "metadata": {"refresh_token": f"r{i}"}}
            return self.event(
                function, org, bare=bare, path={"credentials_id": ids[(org, "salesforce")]}, body=body
            )
        if function == "delete_credentials":
            return self.event(function, org, bare=bare, path={"credentials_id": ids[(org, f"del{i:05d}")]})
        raise ValueError(function)

    def run_pair(
        self, function: str, i: int, *, split: bool = False
    ) -> list[tuple[bool, Sample, CpuSpent | None]]:
        """The i-th request of a route made by the service and by the bare handler, in an order
        that alternates with i: (bare?, sample, where its CPU went when `split`) for each. Delete's
        rows are made just before (the table stays small); create's rows are forgotten after."""
        org = ROUTE_ORG[function]
        expected = 201 if function == "create_credentials" else 200
        if function == "delete_credentials":
            self.create(org, f"del{i:05d}")
            self.create(org, f"del{i:05d}", bare=True)
        results: list[tuple[bool, Sample, CpuSpent | None]] = []
        for bare in (False, True) if i % 2 == 0 else (True, False):
            run = self.theirs if bare else self.ours
            event = self.route_event(function, org, i, bare=bare)
            with cpu_split() if split else contextlib.nullcontext() as spent:
                sample, body = run(function, event, expected)
            results.append((bare, sample, spent))
            if function == "create_credentials":
                self.forget(body, bare=bare)
        return results

    # -- phases ------------------------------------------------------------------------------

    def cold_start(self) -> None:
        runs = self.sizes.cold_runs
        log(f"cold start: {runs} interleaved runs of `import boto3` and of each handler module")
        get = "get_credentials"
        with (
            tempfile.TemporaryDirectory(prefix="bench-pyc-") as cached,
            tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty,
        ):
            variants = cold_start_variants(Path(cached), Path(empty))
            times: dict[str, list[float]] = {name: [] for name in variants}
            self.aws.reset()
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
        import_calls = sum(self.aws.calls().values())
        base = median(times["boto3"])

        def versus(name: str, reference: str = "boto3") -> tuple[float, str]:
            ratio = median(times[name]) / median(times[reference])
            compared = f"{ms(median(times[name]))} vs {ms(median(times[reference]))}, median of {runs}"
            return ratio, f"{ratio:.2f}{X} ({compared})"

        for function in FUNCTIONS:
            ratio, text = versus(function)
            self.rows.append(
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
                "get by id with tracing on, as on Lambda (`Tracing: Active`: Tracer + X-Ray SDK) "
                "/ tracing off",
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
            self.rows.append(Row("Cold start", figure, value, "(for information)", None))
        self.rows.append(
            Row(
                "Cold start",
                f"AWS calls made while importing ({runs * len(variants)} processes)",
                str(import_calls),
                "0",
                import_calls == 0,
            )
        )
        log(f"cold start: import boto3 {ms(base)}")

    def setup(self) -> None:
        log("loading the six handlers; seeding credentials through a create instance of its own")
        self.handlers = {name: _load_function(name).lambda_handler for name in FUNCTIONS}
        for provider in ("salesforce", "hubspot", "pipedrive"):
            self.create("main", provider)
        self.create("update", "salesforce")
        self.org("create")
        self.org("delete")

    def forget(self, created: Any, *, bare: bool) -> None:
        """Delete a credential a create made, and its id mirror (outside any measurement)."""
        mirror = (BARE_ID_PREFIX if bare else ID_MIRROR_PREFIX) + str(created["id"])
        self.aws.delete_items([(str(created["org_id"]), str(created["provider"])), (mirror, "ID")])
        if not bare:
            # The service's create counted the row against the org's limit; its delete would take
            # it off. Without this, the create org fills up and refuses the benchmark's creates.
            self.aws.uncount(str(created["org_id"]))

    def count_route(self, function: str, n: int, *, bare: bool = False) -> Counter[tuple[str, str]]:
        """AWS calls of n warm requests of a route (after one warm-up request), at the endpoint."""
        org = ROUTE_ORG[function]
        run = self.theirs if bare else self.ours
        if function == "delete_credentials":
            for i in range(n + 1):
                self.create(org, f"del{i:05d}", bare=bare)
        expected = 201 if function == "create_credentials" else 200
        created = [run(function, self.route_event(function, org, 0, bare=bare), expected)[1]]
        events = [self.route_event(function, org, i, bare=bare) for i in range(1, n + 1)]
        self.aws.reset()
        created += [run(function, event, expected)[1] for event in events]
        calls = self.aws.calls()
        if function == "create_credentials":
            for body in created:
                self.forget(body, bare=bare)
        return calls

    def route_calls(self) -> dict[str, dict[str, float]]:
        """AWS calls per warm request of each route, counted at the endpoint."""
        n = self.sizes.count_requests
        log(f"AWS calls per warm request: {n} requests per route")
        measured: dict[str, dict[str, float]] = {}
        for function in FUNCTIONS:
            calls = self.count_route(function, n)
            totals, text = describe_calls(calls, n)
            kms_operations = {op: count for (service, op), count in calls.items() if service == "kms"}
            measured[function] = totals | {f"kms:{op}": count / n for op, count in kms_operations.items()}
            dynamodb, kms = totals["dynamodb"], totals["kms"]
            if function in READ_ROUTES:
                limit = 2 if function in BY_ID_ROUTES else 1
                goal = f"DynamoDB {'≤ 2' if limit == 2 else '1'}, KMS 0"
                met = dynamodb <= limit and kms == 0
            elif function == "create_credentials":
                goal, met = "DynamoDB 1", dynamodb <= 1
            else:
                goal, met = "DynamoDB ≤ 2", dynamodb <= 2
            self.rows.append(Row("AWS calls per warm request", ROUTE_NAMES[function], text, goal, met))
        return measured

    def make_bare(self, measured: dict[str, dict[str, float]]) -> None:
        """The bare handlers, making the KMS calls the real routes make warm."""
        kms_calls: dict[str, list[str]] = {}
        for function, totals in measured.items():
            operations: list[str] = []
            for operation in ("Decrypt", "GenerateDataKey"):
                operations += [operation] * round(totals.get(f"kms:{operation}", 0.0))
            others = {k for k in totals if k.startswith("kms:")} - {"kms:Decrypt", "kms:GenerateDataKey"}
            if others:
                self.notes.append(f"{function} makes KMS {sorted(others)} warm; the bare handler does not.")
            kms_calls[function] = operations
        resources = self.aws.resources
        for name in ("main", "create", "update", "delete"):
            self.bare_org(name)
        self.bare = BareService(resources.table_name, resources.kms_key_arn, self.bare_keys, kms_calls)
        for provider in ("salesforce", "hubspot", "pipedrive"):
            self.create("main", provider, bare=True)
        self.create("update", "salesforce", bare=True)

    def bare_calls(self) -> dict[str, str]:
        """What the bare handlers make per request (to show they match)."""
        n = 5
        return {
            function: describe_calls(self.count_route(function, n, bare=True), n)[1] for function in FUNCTIONS
        }

    def kms_reads(self) -> None:
        reads = self.sizes.kms_reads
        log(f"KMS calls over {reads} warm reads of 1 and of 50 credentials")
        function = "get_credentials_by_provider"
        self.create("k1", "salesforce")
        providers = [f"crm{i:02d}" for i in range(50)]
        for provider in providers:
            self.create("k50", provider)
        for name, provider_of, limit in (
            ("1 credential", lambda i: "salesforce", 1),
            ("50 credentials", lambda i: providers[i % 50], 50),
        ):
            org = "k1" if limit == 1 else "k50"
            # Warm: the instance has served this org (its API key is cached) but not read these
            # credentials, which another instance wrote.
            self.ours(function, self.event(function, org, path={"provider": "not-there"}), 404)
            events = [self.event(function, org, path={"provider": provider_of(i)}) for i in range(reads)]
            self.aws.reset()
            for event in events:
                self.ours(function, event)
            calls = self.aws.calls()
            kms = sum(count for (service, _), count in calls.items() if service == "kms")
            dynamodb = sum(count for (service, _), count in calls.items() if service == "dynamodb")
            self.rows.append(
                Row(
                    "KMS calls on warm reads",
                    f"{reads} reads (get by provider) spread over {name}",
                    f"KMS {kms} · DynamoDB {dynamodb} (in all, not per read)",
                    f"≤ {limit}",
                    kms <= limit,
                )
            )

    def warm_cpu(self, bare_counts: dict[str, str]) -> None:
        n = self.sizes.cpu_iterations
        log(f"warm CPU per request: {n} interleaved pairs per route (service, bare boto3)")
        for function in FUNCTIONS:
            if function == "delete_credentials":
                continue
            org = ROUTE_ORG[function]
            expected = 201 if function == "create_credentials" else 200
            for i in range(3):  # a few more warm-ups of both
                for bare in (False, True):
                    run = self.theirs if bare else self.ours
                    _, body = run(function, self.route_event(function, org, 1000 + i, bare=bare), expected)
                    if function == "create_credentials":
                        self.forget(body, bare=bare)
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
                        self.aws.prune()
                    for bare, sample, _spent in self.run_pair(function, i + 10):
                        samples[(function, bare)].append(sample)
        for function in FUNCTIONS:
            ours, theirs = samples[(function, False)], samples[(function, True)]
            our_cpu = median([s.cpu for s in ours])
            bare_cpu = median([s.cpu for s in theirs])
            ratio = our_cpu / bare_cpu
            wall = median([s.wall for s in ours]) / median([s.wall for s in theirs])
            self.rows.append(
                Row(
                    "Warm CPU per request (service / bare boto3)",
                    ROUTE_NAMES[function],
                    f"{ratio:.2f}{X} ({ms(our_cpu)} vs {ms(bare_cpu)} CPU; latency {wall:.2f}{X}; "
                    f"median of {n}; bare makes {bare_counts[function]})",
                    f"≤ {WARM_CPU_GOAL}{X}",
                    ratio <= WARM_CPU_GOAL,
                )
            )

    def cpu_breakdown(self) -> None:
        """Where each route's warm CPU goes, for information: a separate pass (the wrappers that
        split it cost a little), each route in a block, service and bare interleaved."""
        n = max(10, self.sizes.cpu_iterations // 4)
        log(f"warm CPU breakdown: {n} interleaved pairs per route")
        for function in FUNCTIONS:
            totals = {False: CpuSpent(), True: CpuSpent()}
            for i in range(n):
                for bare, sample, spent in self.run_pair(function, 5000 + i, split=True):
                    assert spent is not None
                    spent.total = sample.cpu
                    totals[bare].add(spent)

            ours, theirs = totals[False], totals[True]
            rest = ours.total - ours.aws - ours.esdk
            self.rows.append(
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

    def list_growth(self) -> None:
        n = self.sizes.growth_iterations
        log(f"list cost with 1, 10 and 100 credentials: {n} interleaved rounds")
        sizes = (1, 10, 100)
        function = "list_credentials"
        for size in sizes:
            for i in range(size):
                self.create(f"n{size}", f"crm{i:03d}")
            self.ours(function, self.event(function, f"n{size}"))  # warm: data keys cached
        samples: dict[int, list[Sample]] = {size: [] for size in sizes}
        for i in range(n):
            order = sizes[i % 3 :] + sizes[: i % 3]
            for size in order:
                sample, body = self.ours(function, self.event(function, f"n{size}"))
                if len(body) != size:
                    raise BenchError(f"list of an org with {size} credentials returned {len(body)}")
                samples[size].append(sample)
        self.aws.reset()
        self.ours(function, self.event(function, "n100"))
        totals, text = describe_calls(self.aws.calls(), 1)
        base_wall = median([s.wall for s in samples[1]])
        base_cpu = median([s.cpu for s in samples[1]])
        for size in sizes[1:]:
            wall = median([s.wall for s in samples[size]])
            cpu = median([s.cpu for s in samples[size]])
            worst = max(wall / base_wall, cpu / base_cpu)
            self.rows.append(
                Row(
                    "How cost grows",
                    f"list, org with {size} credentials / org with 1",
                    f"latency {wall / base_wall:.2f}{X}, CPU {cpu / base_cpu:.2f}{X} "
                    f"({ms(wall)} / {ms(cpu)} CPU vs {ms(base_wall)} / {ms(base_cpu)}; median of {n})",
                    f"≤ {size}{X} (at most linear)",
                    worst <= size,
                )
            )
        self.rows.append(
            Row(
                "How cost grows",
                "list of 100 credentials: AWS calls",
                text,
                "DynamoDB 1, KMS 0",
                totals["dynamodb"] <= 1 and totals["kms"] == 0,
            )
        )

    def other_orgs(self) -> None:
        n = self.sizes.flat_iterations
        rows = self.sizes.other_org_rows
        log(f"get by provider before and after {rows} other orgs' rows: {n} interleaved pairs each")
        function = "get_credentials_by_provider"
        path = {"provider": "salesforce"}

        def measure() -> tuple[list[Sample], list[Sample]]:
            ours: list[Sample] = []
            theirs: list[Sample] = []
            for i in range(n):
                our_event = self.event(function, "main", path=path)
                bare_event = self.event(function, "main", bare=True, path=path)
                if i % 2 == 0:
                    ours.append(self.ours(function, our_event)[0])
                    theirs.append(self.theirs(function, bare_event)[0])
                else:
                    theirs.append(self.theirs(function, bare_event)[0])
                    ours.append(self.ours(function, our_event)[0])
            return ours, theirs

        before, bare_before = measure()
        log(f"inserting {rows} rows of other orgs (BatchWriteItem)")
        self.aws.fill_other_orgs(rows)
        after, bare_after = measure()
        self.aws.reset()
        for _ in range(10):
            self.ours(function, self.event(function, "main", path=path))
        totals, _text = describe_calls(self.aws.calls(), 10)
        wall = median([s.wall for s in after]) / median([s.wall for s in before])
        cpu = median([s.cpu for s in after]) / median([s.cpu for s in before])
        bare_wall = median([s.wall for s in bare_after]) / median([s.wall for s in bare_before])
        bare_cpu = median([s.cpu for s in bare_after]) / median([s.cpu for s in bare_before])
        # The bare handler reads by the same key in the same table, interleaved: what it drifts
        # by is the fake's and the machine's drift, not growth of the service's own.
        relative = wall / bare_wall
        self.rows.append(
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

    def deployment_size(self) -> None:
        log("deployment size: sam build of the layer and GetCredentialsFunction")
        with tempfile.TemporaryDirectory(prefix="credentials-bench-") as tmp:
            built, reason = sam_build(Path(tmp))
            if not built:
                self.rows.append(
                    Row(
                        "Deployment size",
                        "layer + one function, zipped",
                        f"n/a: sam build unavailable ({reason})",
                        f"≤ {SIZE_GOAL_MB:g} MB",
                        None,
                    )
                )
                return
            layer = Path(tmp) / "build" / "CommonLayer"
            function = Path(tmp) / "build" / "GetCredentialsFunction"
            layer_mb, function_mb = zipped_size(layer) / 1e6, zipped_size(function) / 1e6
            total = layer_mb + function_mb
            unzipped = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file()) / 1e6
            self.rows.append(
                Row(
                    "Deployment size",
                    "CommonLayer + GetCredentialsFunction, zipped (deflate)",
                    f"{total:.2f} MB (layer {layer_mb:.2f} MB, function {function_mb:.3f} MB; "
                    f"layer unzipped {unzipped:.1f} MB)",
                    f"≤ {SIZE_GOAL_MB:g} MB",
                    total <= SIZE_GOAL_MB,
                )
            )
            self.notes.append(
                "Largest parts of the built layer (unzipped): " + largest_parts(layer / "python")
            )


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


def sam_build(tmp: Path) -> tuple[bool, str]:
    """`sam build GetCredentialsFunction` (which builds its layer) into `tmp/build`."""
    command = shlex.split(os.environ.get("SAM") or DEFAULT_SAM)
    if not command or shutil.which(command[0]) is None:
        return False, f"{command[0] if command else 'sam'} not found"
    arguments = [
        "build",
        "GetCredentialsFunction",
        "--template-file",
        str(ROOT / "template.yaml"),
        "--build-dir",
        str(tmp / "build"),
        "--cache-dir",
        str(tmp / "cache"),
        "--region",
        "us-east-1",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - the SAM CLI the Makefile names
            command + arguments,
            cwd=tmp,  # sam writes .aws-sam/ under its working directory: keep the project clean
            env=sam_environment(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, type(error).__name__
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return False, (errors or lines or [f"exit {done.returncode}"])[-1][:200]
    return True, ""


def sam_environment() -> dict[str, str]:
    """The environment for sam: it needs the runtime's interpreter (python3.13) on PATH; with
    pyenv, expose an installed 3.13 beside the current version."""
    env = dict(os.environ)
    if _runs(["python3.13", "--version"], env):
        return env
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return env
    versions = subprocess.run(  # noqa: S603
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    wanted = [version for version in versions if version.startswith("3.13")]
    current = (
        env.get("PYENV_VERSION")
        or subprocess.run(  # noqa: S603
            [pyenv, "version-name"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    if wanted:
        env["PYENV_VERSION"] = ":".join([*filter(None, current.split(":")), wanted[-1]])
    return env


def _runs(command: list[str], env: dict[str, str]) -> bool:
    try:
        return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0  # noqa: S603
    except OSError:
        return False


def zipped_size(directory: Path) -> int:
    """Bytes of a deflate zip of a directory, as a Lambda deployment package."""
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory))
        handle.seek(0, os.SEEK_END)
        return handle.tell()


def largest_parts(directory: Path, count: int = 6) -> str:
    sizes: Counter[str] = Counter()
    for path in directory.rglob("*"):
        if path.is_file():
            top = path.relative_to(directory).parts[0]
            sizes[top.split("-")[0] if top.endswith(".dist-info") else top] += path.stat().st_size
    return ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.most_common(count))


def machine() -> list[tuple[str, str]]:
    """What this machine is, for the report header."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    system = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        ("CPU", f"{cpu}, {cores} logical cores ({usable} usable), {platform.machine()}"),
        ("Memory", memory),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("OS", system),
        ("Packages", ", ".join(versions)),
    ]


def render(rows: list[Row], header: list[tuple[str, str]], notes: list[str]) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"- **{name}**: {value}" for name, value in header]
    lines += ["", "| Group | Figure | Value | Goal | Met? |", "|---|---|---|---|---|"]
    for row in rows:
        met = "—" if row.met is None else "yes" if row.met else "no"
        lines.append(
            f"| {cell(row.group)} | {cell(row.figure)} | {cell(row.value)} | {cell(row.goal)} | {met} |"
        )
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def write_report(markdown: str, path: Path = REPORT_PATH) -> None:
    """Replace the results between the markers of BENCHMARKS.md (or append them)."""
    block = f"{START_MARK}\n{markdown}{END_MARK}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARK) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__.splitlines()[0] if __doc__ else None)
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
        bench.cold_start()
        with quiet_stdout():
            bench.setup()
            measured = bench.route_calls()
            bench.make_bare(measured)
            bare_counts = bench.bare_calls()
            bench.warm_cpu(bare_counts)
            bench.cpu_breakdown()
            bench.kms_reads()
            bench.list_growth()
            bench.other_orgs()
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
            bench.deployment_size()
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
    markdown = render(bench.rows, header, bench.notes)
    print(markdown)
    if not args.quick:
        write_report(markdown, args.output)
        log(f"written to {args.output}")
    log(f"done in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
