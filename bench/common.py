"""What every phase shares: the routes, the table's rows, samples, sizes, progress and formatting."""

import contextlib
import os
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.client
from integration_credentials.adapters.crypto.cipher import CredentialsCipher
from local_stack.template import function_directories

ROUTE_NAMES = {
    "create_credentials": "create (POST /)",
    "list_credentials": "list (GET /)",
    "get_credentials_by_provider": "get by provider (GET /provider/{provider})",
    "get_credentials": "get by id (GET /{id})",
    "update_credentials": "update (PUT /{id})",
    "delete_credentials": "delete (DELETE /{id})",
}
# The six CRUD routes. Refresh and the OAuth connect flow are left out: their cost is the
# provider's token request (and a connection is made once, not on every sync).
FUNCTIONS = [name for name in function_directories() if name in ROUTE_NAMES]
# Which org each route's measured requests use (delete's rows are made per request).
ROUTE_ORG = {
    "create_credentials": "create",
    "list_credentials": "main",
    "get_credentials_by_provider": "main",
    "get_credentials": "main",
    "update_credentials": "update",
    "delete_credentials": "delete",
}
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
