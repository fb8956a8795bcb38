"""End-to-end fixtures: a real local stack (`credentials-local`) started by the test session as a
subprocess, driven over HTTP, plus the admin CLI as a subprocess.

Every secret a test sends (access tokens, DSNs, metadata strings, API keys, JWTs) is recorded in a
session-wide ledger by the `Api` client; when the session's stack stops, none of them may be in its
table or its logs, in any encoding (tests/e2e/no_plaintext.py). Every stack stopped checks its own
recorded AWS accesses against template.yaml's policies (tests/iam_proof.py).
"""

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import fake_crms as fake
import pytest
from credentials_admin.cli import create_api_key
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from local_stack.provisioning import API_KEYS_TABLE, local_table_name
from smoke import Http, Reply

from tests import iam_proof, tokens
from tests.conftest import SEED_BODIES
from tests.e2e import no_plaintext

ROOT = Path(__file__).resolve().parents[2]
JWT_SECRET = "e2e-jwt-secret-" + secrets.token_hex(16)
# What `make run` requires of a token when the developer exports no JWT_ISSUER / JWT_AUDIENCE.
JWT_ISSUER, JWT_AUDIENCE = "integration-credentials-local", "integration-credentials"
TABLE_NAME = "integration-credentials-local"
REGION = "us-east-1"
# Generous: the suite runs in parallel on small shared machines (a stack starts in seconds).
STARTUP_TIMEOUT_SECONDS = 180
STOP_TIMEOUT_SECONDS = 30
HTTP_TIMEOUT_SECONDS = 60
BANNER_END = "Ctrl-C to stop."
API_KEY_RE = re.compile(r"^sk_live_[A-Za-z0-9]{40}$")

# Contract texts (seed documents).
UNAUTHORIZED = {"detail": "Invalid or missing authentication credentials"}
FORBIDDEN = {"detail": "You do not have permission to access this resource"}
BASE = "/integration-credentials"

# The seed's three provider examples, verbatim (shared with the other suites).
SEED_EXAMPLES: dict[str, dict[str, Any]] = SEED_BODIES

# Environment that must not leak from the developer's shell into the stack or the CLI:
# it would point them at a real account/table, at real token endpoints or OAuth apps, or override
# the template's settings.
_SCRUBBED_PREFIXES = ("AWS_", "POWERTOOLS_", "JWT_", "OAUTH_", "REFRESH_", "LOCAL_REFRESH_", "LOCAL_OAUTH_")
_SCRUBBED_NAMES = {
    "TABLE_NAME",
    "API_KEYS_TABLE_NAME",
    "KMS_KEY_ARN",
    "API_KEY_CACHE_SECONDS",
    "API_KEY_NEGATIVE_CACHE_SECONDS",
    "MAX_BODY_BYTES",
    "PORT",
    "DATA_KEY_CACHE_SECONDS",
    "DATA_KEY_CACHE_CAPACITY",
    "EVENT_BUS_NAME",
    "ACCESS_TOKEN_LIFETIME_SECONDS",
}
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}


# The environment as the session began: tiers run in one process (xdist mixes them), and the
# integration suite's stack sets the functions' settings in os.environ for its whole session.
ENVIRONMENT_AT_START = dict(os.environ)


def clean_environment(**overrides: str) -> dict[str, str]:
    """The session's starting environment minus AWS/app settings, plus fake AWS credentials and
    overrides."""
    env = {
        name: value
        for name, value in ENVIRONMENT_AT_START.items()
        if not name.startswith(_SCRUBBED_PREFIXES) and name not in _SCRUBBED_NAMES
    }
    env.update(FAKE_AWS)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(overrides)
    return env


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def free_port_pair() -> int:
    """A port P such that P and P+1 are both free (the CLI finds embedded AWS at PORT+1)."""
    for _ in range(50):
        port = free_port()
        if port < 65535 and _port_is_free(port + 1):
            return port
    raise RuntimeError("no two consecutive free ports")


# --------------------------------------------------------------------------------------------
# The local stack as a subprocess
# --------------------------------------------------------------------------------------------


@dataclass
class RunningStack:
    """A `local_stack.devserver` process and what its banner said."""

    process: subprocess.Popen[bytes]
    port: int
    aws_port: int
    log_path: Path
    banner: str
    banner_end_offset: int
    iam_records: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    @property
    def demo_api_key(self) -> str:
        match = re.search(r"API key: (sk_live_[A-Za-z0-9]+)", self.banner)
        assert match, self.banner
        return match.group(1)

    def log_text(self) -> str:
        return self.log_path.read_bytes().decode("utf-8", errors="replace")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int:
        """Ctrl-C (SIGINT) and wait; kills it and fails if it does not exit in time, or if its
        functions made an AWS access template.yaml's policies do not allow (the IAM proof)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
            pytest.fail(
                f"stack on port {self.port} did not exit within {timeout}s of SIGINT\n{self.log_tail()}"
            )
        problems = iam_proof.stack_problems(self.iam_records)
        assert not problems, "\n".join(problems)
        return code


def start_stack(log_path: Path, port: int, aws_port: int, **env: str) -> RunningStack:
    """Start `python -m local_stack.devserver` and wait for its "Ctrl-C to stop." line."""
    iam_records = iam_proof.new_stack_directory(f"stack-{port}")
    # The stack appends its audit records to .local/audit-<PORT>.jsonl: what a stack that once had
    # this port left there (a last line cut short, if it was killed) is not this one's.
    (ROOT / ".local" / f"audit-{port}.jsonl").unlink(missing_ok=True)
    environment = clean_environment(
        IAM_CALLS_DIR=str(iam_records),
        PORT=str(port),
        AWS_PORT=str(aws_port),
        JWT_SECRET=JWT_SECRET,
        API_KEY_CACHE_SECONDS="1",
        # A function's first instance starts when it is first invoked: a stack's tests use a few.
        LOCAL_WARM_FUNCTIONS="0",
        **env,
    )
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "local_stack.devserver"],
            cwd=ROOT,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    marker = (BANNER_END + "\n").encode()
    while True:
        content = log_path.read_bytes()
        index = content.find(marker)
        if index >= 0:
            end = index + len(marker)
            banner = content[:end].decode("utf-8", errors="replace")
            return RunningStack(process, port, aws_port, log_path, banner, end, iam_records)
        if process.poll() is not None:
            raise RuntimeError(
                f"stack exited with {process.returncode} before serving:\n{content.decode(errors='replace')}"
            )
        if time.monotonic() > deadline:
            process.kill()
            process.wait(timeout=10)
            raise RuntimeError(
                f"stack not ready within {STARTUP_TIMEOUT_SECONDS}s:\n{content.decode(errors='replace')}"
            )
        time.sleep(0.1)


_TOKEN_ENDPOINTS: list[Any] = []


def stack_token_endpoint() -> fake.FakeEndpoint:
    """A token endpoint for every provider that always grants (started once per session)."""
    if not _TOKEN_ENDPOINTS:
        reply = fake.Reply(
            200, {"access_token": "fake-refreshed-" + secrets.token_hex(16), "expires_in": 3600}
        )
        context = fake.serve(fake.fixed(reply))
        _TOKEN_ENDPOINTS.append((context, context.__enter__()))
    endpoint: fake.FakeEndpoint = _TOKEN_ENDPOINTS[0][1]
    return endpoint


# Every CRM's identity answer at once (each provider reads its own fields): Salesforce userinfo,
# HubSpot introspection, Pipedrive users/me, Zoho org, Dynamics WhoAmI.
IDENTITY_ANSWER = {
    "organization_id": "00D000000000001AAA",
    "user_id": "005000000000001AAA",
    "active": True,
    "hub_id": 12345678,
    "hub_domain": "fuzz.hubspot.com",
    "user": "fuzz@example.com",
    "data": {"company_id": 4242, "company_domain": "fuzz", "id": 7},
    "org": [{"id": "111222333", "company_name": "Fuzz"}],
    "OrganizationId": "8f1c1c8e-0000-4000-8000-000000000001",
    "UserId": "8f1c1c8e-0000-4000-8000-000000000002",
}


def stack_identity_endpoint() -> fake.FakeEndpoint:
    """The CRMs' identity and revocation calls, always answering (started once per session)."""
    if len(_TOKEN_ENDPOINTS) < 2:
        stack_token_endpoint()
        context = fake.serve(fake.fixed(fake.Reply(200, IDENTITY_ANSWER)))
        _TOKEN_ENDPOINTS.append((context, context.__enter__()))
    endpoint: fake.FakeEndpoint = _TOKEN_ENDPOINTS[1][1]
    return endpoint


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, ledger: "SecretLedger") -> Iterator[RunningStack]:
    """The session's stack; stopped with SIGINT at the end, which must exit 0 in time; then
    no secret any test sent it may be in its table or its logs (tests/e2e/no_plaintext.py).

    It logs at DEBUG (the most verbose LogLevel the template allows, exported as the template's
    POWERTOOLS_LOG_LEVEL) so the log check is as strict as it can be."""
    port = free_port_pair()
    log_path = tmp_path_factory.mktemp("stack") / "stack.log"
    # No scheduled token refresh here: it would change rows under the tests' feet (versions, ETags)
    # and call real token endpoints; test_refresh_local_stack.py runs it on a stack of its own.
    # A refresh asked for over HTTP (the fuzzer does) goes to a local fake, never to a real CRM.
    token_endpoint = stack_token_endpoint()
    token_urls = {
        f"OAUTH_TOKEN_URL_{provider.upper()}": token_endpoint.url(f"/{provider}/token")
        for provider in ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics")
    }
    # Verification (`?verify=true`, `/verify`) and revocation go to a local fake too: one that
    # names an account in each CRM's own answer shape, and accepts every revocation.
    identity_endpoint = stack_identity_endpoint()
    for provider in ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics"):
        token_urls[f"CRM_API_URL_{provider.upper()}"] = identity_endpoint.url(f"/{provider}")
        token_urls[f"OAUTH_REVOKE_URL_{provider.upper()}"] = identity_endpoint.url(f"/{provider}/revoke")
    running = start_stack(
        log_path,
        port,
        port + 1,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        LOCAL_REFRESH_INTERVAL_SECONDS="0",
        **token_urls,
    )
    assert f"Integration credentials API on http://127.0.0.1:{port}" in running.banner
    assert f"Embedded AWS (moto) on http://127.0.0.1:{port + 1}  table={TABLE_NAME}" in running.banner
    assert f"JWT HS256 secret (from JWT_SECRET): {JWT_SECRET}" in running.banner
    assert (
        f"JWT claims required: iss={JWT_ISSUER} aud={JWT_AUDIENCE} (JWT_ISSUER, JWT_AUDIENCE)"
        in running.banner
    )
    try:
        yield running
        # Checked while it still serves its embedded AWS: the table, then the whole log.
        no_plaintext.check_table(aws_client(running, "dynamodb"), TABLE_NAME, ledger.everything())
    finally:
        code = running.stop()
        # Stopped here, not by garbage collection at exit: by then its daemon thread is gone and
        # shutdown() would wait for it forever.
        while _TOKEN_ENDPOINTS:
            _TOKEN_ENDPOINTS.pop()[0].__exit__(None, None, None)
    assert code == 0, f"stack exited with {code} after SIGINT\n{running.log_tail()}"
    log = running.log_path.read_bytes()
    if ledger.everything():
        assert b'"service":"integration-credentials"' in log[running.banner_end_offset :], (
            "expected the functions' logs"
        )
    no_plaintext.check_logs(
        log, running.banner_end_offset, running.demo_api_key, JWT_SECRET, ledger.everything()
    )


# The connect flow's stack: `make run FAKE_CRMS=1` (the five fake CRMs beside it), an org allowed
# CONNECT_LINKS_PER_ORG links in progress (MAX_CONNECT_STATES_PER_ORG).
CONNECT_LINKS_PER_ORG = 3


@pytest.fixture(scope="session")
def fake_crm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    port = free_port_pair()
    log_path: Path = tmp_path_factory.mktemp("connect-stack") / "stack.log"
    running = start_stack(
        log_path,
        port,
        port + 1,
        LOCAL_FAKE_CRMS="1",
        LOCAL_REFRESH_INTERVAL_SECONDS="0",
        MAX_CONNECT_STATES_PER_ORG=str(CONNECT_LINKS_PER_ORG),
    )
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


# --------------------------------------------------------------------------------------------
# The secrets ledger and the HTTP client
# --------------------------------------------------------------------------------------------

MIN_SECRET_CHARS = 8  # shorter values ("v58.0", "deals") could match log text or bytes by chance
# Non-secret text that legitimately shows up in logs (function ARNs) and in ciphertext headers (the
# KMS key ARN): the local account id. A sent value inside it (the seed's HubSpot portal_id
# "12345678") cannot be told apart from it, so it is not checked.
PUBLIC_TEXT = ("123456789012",)


@dataclass
class SecretLedger:
    """Every secret string the tests sent to the session's stack."""

    values: set[str] = field(default_factory=set)
    credentials: set[str] = field(default_factory=set)  # API keys and JWTs
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS:
            with self._lock:
                self.values.add(value)

    def add_credential(self, value: str) -> None:
        if len(value) >= MIN_SECRET_CHARS:
            with self._lock:
                self.credentials.add(value)

    def add_body(self, body: Any) -> None:
        """dsn, access_token and every string inside metadata (keys excluded)."""
        if not isinstance(body, Mapping):
            return
        for name in ("dsn", "access_token"):
            if isinstance(body.get(name), str):
                self.add(body[name])
        for value in _strings(body.get("metadata")):
            self.add(value)

    def everything(self) -> set[str]:
        """Every recorded secret that can be told apart from public text."""
        with self._lock:
            recorded = set(self.values) | set(self.credentials)
        return {value for value in recorded if not any(value in text for text in PUBLIC_TEXT)}


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


@dataclass(frozen=True)
class Org:
    """A tenant: its id, an API key minted as the admin CLI mints them (or None), and JWTs on demand."""

    org_id: str
    api_key: str | None

    @property
    def key(self) -> dict[str, str]:
        assert self.api_key is not None
        return {"X-API-Key": self.api_key}

    @property
    def bearer(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {make_jwt(self.org_id)}"}


class Api:
    """The smoke suite's HTTP client (`smoke.Http`: no redirect followed, no proxy for loopback)
    against one stack, with the caller's headers; records what it sends in the ledger."""

    def __init__(self, base_url: str, ledger: SecretLedger) -> None:
        self.base_url = base_url
        self.ledger = ledger
        self.http = Http(base_url, None, HTTP_TIMEOUT_SECONDS)

    def request(
        self,
        method: str,
        path: str,
        headers: Mapping[str, str] | None = None,
        *,
        json: Any = None,
        data: str | bytes | None = None,
    ) -> Reply:
        headers = dict(headers or {})
        for name, value in headers.items():
            if name.lower() == "x-api-key":
                self.ledger.add_credential(value)
            elif name.lower() == "authorization":
                self.ledger.add_credential(value.partition(" ")[2] or value)
        if json is not None:
            self.ledger.add_body(json)
        return self.http.request(method, path, json, headers=headers, data=data)

    def get(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("GET", path, headers)

    def post(self, path: str, headers: Mapping[str, str] | None = None, **kw: Any) -> Reply:
        return self.request("POST", path, headers, **kw)

    def put(self, path: str, headers: Mapping[str, str] | None = None, **kw: Any) -> Reply:
        return self.request("PUT", path, headers, **kw)

    def delete(self, path: str, headers: Mapping[str, str] | None = None) -> Reply:
        return self.request("DELETE", path, headers)

    def create(self, headers: Mapping[str, str], body: Mapping[str, Any]) -> dict[str, Any]:
        """POST the seed's way (trailing slash) and insist on 201."""
        response = self.post(f"{BASE}/", headers, json=body)
        assert response.status == 201, response.text
        created: dict[str, Any] = response.json()
        return created


@pytest.fixture(scope="session")
def ledger() -> SecretLedger:
    return SecretLedger()


@pytest.fixture(scope="session")
def api(stack: RunningStack, ledger: SecretLedger) -> Api:
    return Api(stack.base_url, ledger)


# --------------------------------------------------------------------------------------------
# JWTs and the admin CLI
# --------------------------------------------------------------------------------------------


def make_jwt(
    org_id: str,
    *,
    secret: str = JWT_SECRET,
    expires_in: int | None = 300,
    extra: Mapping[str, Any] | None = None,
) -> str:
    """An HS256 token with `org_id`, the local stack's `iss` and `aud`, and (unless expires_in is
    None) `exp` claims; `extra` adds claims, or removes them with None."""
    claims: dict[str, Any] = {"org_id": org_id, "sub": "e2e-user", "iss": JWT_ISSUER, "aud": JWT_AUDIENCE}
    claims.update(extra or {})
    claims["exp"] = None if expires_in is None else int(time.time()) + expires_in
    return tokens.token(secret, **claims)


def _admin_command() -> list[str]:
    script = Path(sys.executable).with_name("credentials-local-admin")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "local_stack.admin"]


def run_admin(target: RunningStack, *args: str, via: str = "port") -> subprocess.CompletedProcess[str]:
    """`credentials-local-admin api-keys <args>` (the operator CLI pointed at a local stack) against
    a stack, found through PORT (its default: embedded AWS at PORT+1) or through AWS_ENDPOINT_URL."""
    if via == "port":
        assert target.aws_port == target.port + 1, "PORT targeting needs AWS_PORT == PORT + 1"
        env = clean_environment(PORT=str(target.port))
    else:
        env = clean_environment(AWS_ENDPOINT_URL=target.aws_endpoint)
    return subprocess.run(
        [*_admin_command(), "api-keys", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def mint_api_key(target: RunningStack, org_id: str, via: str | None = None) -> str:
    """Mint a key for an org on a stack. With `via` ("port" or "endpoint"), by the CLI, whose stdout
    must be exactly one line: the key. Without, as the CLI mints it (`create_api_key`, on the
    stack's keys table) but in this process: a CLI start costs about a second of CPU, and what the
    CLI itself does is test_api_keys.py's and test_two_stacks.py's to check."""
    if via is None:
        repository = ApiKeyRepository(local_table_name(API_KEYS_TABLE), aws_client(target, "dynamodb"))
        key, _key_id = create_api_key(repository, org_id)
        return key
    result = run_admin(target, "create", "--org-id", org_id, via=via)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1 and result.stdout == lines[0] + "\n", repr(result.stdout)
    assert API_KEY_RE.fullmatch(lines[0]), repr(lines[0])
    return lines[0]


@pytest.fixture
def make_org(stack: RunningStack) -> Callable[..., Org]:
    """A factory of fresh orgs (uuid4 ids); `with_key=True` mints an API key (`mint_api_key`)."""

    def factory(with_key: bool = True) -> Org:
        org_id = str(uuid.uuid4())
        return Org(org_id, mint_api_key(stack, org_id) if with_key else None)

    return factory


# --------------------------------------------------------------------------------------------
# The stack's embedded AWS, as a test talks to it
# --------------------------------------------------------------------------------------------


def aws_client(target: RunningStack, service: str) -> Any:
    """A boto3 client of `service` on the stack's embedded AWS (its fake credentials)."""
    return boto3.client(
        service,  # type: ignore[call-overload]
        endpoint_url=target.aws_endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_AWS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_AWS["AWS_SECRET_ACCESS_KEY"],
    )


def connect_result_key(target: RunningStack) -> str:
    """The key that verifies the connect flow's signed results, read as the platform's backend
    reads it: the SecureString ConnectResultKeyParameterName names."""
    from local_stack.template import parameter_defaults

    name = parameter_defaults()["ConnectResultKeyParameterName"]
    value = aws_client(target, "ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    return str(value)
