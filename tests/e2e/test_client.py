"""The Python client (clients/python) against a local stack of this module's own, never a mock of
the service: every method, the retry rules under faults the stack's embedded AWS injects, and
CrmAuth keeping a sync job's CRM calls working through a refresh, with the least a sync job needs
(`credentials:read` + `credentials:refresh`). The CRM is a small loopback server of this module;
its token endpoint is the fake Salesforce (tools/fake_crms)."""

import asyncio
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import requests
from fake_crms import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    REFRESH_TOKEN,
    FakeEndpoint,
    salesforce,
    serve,
)
from integration_credentials_client import (
    AsyncClient,
    Client,
    CrmAuth,
    Forbidden,
    NotFound,
    PreconditionFailed,
    ReconnectRequired,
    RetryPolicy,
    Unauthorized,
)
from local_stack.aws_faults import ANY_FUNCTION, RemoteFaults

from .conftest import ROOT, RunningStack, free_port_pair, mint_api_key, run_admin, start_stack

# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("test_client")

TOKEN_PATH = "/services/oauth2/token"
INSTANCE_URL = "https://acme.my.salesforce.com"
WORKERS = 20


@pytest.fixture(scope="module")
def token_endpoint() -> Iterator[FakeEndpoint]:
    with serve(salesforce()) as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, token_endpoint: FakeEndpoint) -> Iterator[RunningStack]:
    """A stack whose Salesforce token endpoint is the fake, with the fake's OAuth client."""
    port = free_port_pair()
    running = start_stack(
        tmp_path_factory.mktemp("client") / "stack.log",
        port,
        port + 1,
        POWERTOOLS_LOG_LEVEL="DEBUG",
        LOCAL_REFRESH_INTERVAL_SECONDS="0",
        OAUTH_TOKEN_URL_SALESFORCE=token_endpoint.url(TOKEN_PATH),
        LOCAL_OAUTH_CLIENT_ID_SALESFORCE=CLIENT_ID,
        LOCAL_OAUTH_CLIENT_SECRET_SALESFORCE=CLIENT_SECRET,
    )
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


@pytest.fixture
def faults(stack: RunningStack) -> Iterator[RemoteFaults]:
    remote = RemoteFaults(stack.aws_endpoint)
    yield remote
    remote.heal()


@dataclass
class Org:
    org_id: str
    key: str  # every scope
    sync_key: str  # credentials:read + credentials:refresh only


def scoped_key(stack: RunningStack, org_id: str, *scopes: str) -> str:
    result = run_admin(
        stack, "create", "--org-id", org_id, *(arg for scope in scopes for arg in ("--scope", scope))
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def org(stack: RunningStack) -> Org:
    org_id = str(uuid.uuid4())
    return Org(
        org_id,
        mint_api_key(stack, org_id),
        scoped_key(stack, org_id, "credentials:read", "credentials:refresh"),
    )


@dataclass
class Recorder(httpx.BaseTransport):
    """The client's transport, recording each answer's method, path, status and Retry-After."""

    inner: httpx.BaseTransport = field(default_factory=httpx.HTTPTransport)
    seen: list[tuple[str, str, int, str | None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = self.inner.handle_request(request)
        except httpx.TransportError:
            with self.lock:
                self.seen.append((request.method, request.url.path, 0, None))  # no answer
            raise
        with self.lock:
            self.seen.append(
                (request.method, request.url.path, response.status_code, response.headers.get("Retry-After"))
            )
        return response


@dataclass
class AsyncRecorder(httpx.AsyncBaseTransport):
    seen: list[tuple[str, str, int, str | None]]
    lock: threading.Lock
    inner: httpx.AsyncBaseTransport = field(default_factory=httpx.AsyncHTTPTransport)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        with self.lock:
            self.seen.append((request.method, request.url.path, response.status_code, None))
        return response


def test_every_method_on_the_local_stack(stack: RunningStack, org: Org) -> None:
    token = "00D5g000001234567!AQYAQ-" + secrets.token_hex(12)
    with Client(stack.base_url, api_key=org.key) as client:
        created = client.create(
            "salesforce", INSTANCE_URL, token, {"instance_url": INSTANCE_URL, "refresh_token": REFRESH_TOKEN}
        )
        assert created.etag == '"1"' and created.access_token == token and created.status == "active"
        assert client.get(created.id).etag == '"1"'
        assert client.get_by_provider("salesforce").metadata["instance_url"] == INSTANCE_URL
        for provider in ("hubspot", "custom", "zoho"):
            client.create(provider, f"https://{provider}.example", token)
        assert [c.provider for c in client.list(page_size=2)] == ["custom", "hubspot", "salesforce", "zoho"]
        updated = client.update(created.id, metadata={"api_version": "v58.0"}, if_match=created.etag)
        assert updated.etag == '"2"' and updated.metadata["refresh_token"] == REFRESH_TOKEN
        with pytest.raises(PreconditionFailed) as stale:
            client.update(created.id, dsn="https://other.example", if_match=created.etag)
        assert stale.value.current_etag == '"2"'
        refreshed = client.refresh(created.id)
        assert refreshed.access_token == NEW_ACCESS_TOKEN and refreshed.last_refreshed_at
        started = client.connect("salesforce", "http://127.0.0.1:9/done", credentials_id=created.id)
        assert started.connect_url and started.state_hash
        moving = client.connect(
            "salesforce", "http://127.0.0.1:9/done", credentials_id=created.id, allow_account_change=True
        )
        assert moving.state_hash != started.state_hash
        client.delete(created.id)
        with pytest.raises(NotFound) as missing:
            client.get(created.id)
        assert missing.value.detail == f"Integration credentials {created.id} not found"
    with Client(stack.base_url, api_key=org.sync_key) as sync_job:
        with pytest.raises(Forbidden) as forbidden:
            sync_job.create("pipedrive", "https://acme.pipedrive.com", token)
        assert forbidden.value.detail == "You do not have permission to access this resource"
        assert sync_job.get_by_provider("hubspot").access_token == token
    with pytest.raises(Unauthorized), Client(stack.base_url, api_key="sk_live_" + "x" * 40) as stranger:
        stranger.get_by_provider("hubspot")

    async def the_same_async() -> None:
        async with AsyncClient(stack.base_url, api_key=org.key) as client:
            made = await client.create("dynamics", "https://org.crm.dynamics.com", token)
            assert (await client.get(made.id)).etag == '"1"'
            assert (await client.get_by_provider("dynamics")).id == made.id
            assert len([c async for c in client.list(page_size=2)]) == 4
            assert (
                await client.update(made.id, dsn="https://org2.crm.dynamics.com", if_match='"1"')
            ).etag == '"2"'
            await client.delete(made.id)

    asyncio.run(the_same_async())


def test_a_503_is_waited_for_as_its_retry_after_says(
    stack: RunningStack, org: Org, faults: RemoteFaults
) -> None:
    recorder, waits = Recorder(), []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    with Client(stack.base_url, api_key=org.key) as setup:
        created = setup.create("hubspot", "https://api.hubapi.com", "hubspot-token-" + secrets.token_hex(8))
    client = Client(stack.base_url, api_key=org.key, transport=recorder, retries=RetryPolicy(sleep=sleep))
    # DynamoDB throttles every attempt the stack's botocore makes for the next read
    faults.inject("dynamodb", "throttle", operations=["GetItem"], times=3, callers=[ANY_FUNCTION])
    assert client.get(created.id).id == created.id
    unavailable = [entry for entry in recorder.seen if entry[2] == 503]
    assert len(unavailable) == 1 and recorder.seen[-1][2] == 200, recorder.seen
    assert waits == [float(unavailable[0][3] or "nan")]


def test_a_create_whose_answer_was_lost_is_retried_into_one_credential(
    stack: RunningStack, org: Org, faults: RemoteFaults
) -> None:
    recorder = Recorder()
    client = Client(
        stack.base_url, api_key=org.key, transport=recorder, timeout=2.0, retries=RetryPolicy(attempts=10)
    )
    # The credentials transaction is applied, then its answer withheld past the client's timeout
    faults.inject(
        "dynamodb", "lost", operations=["TransactWriteItems"], times=1, seconds=4, callers=[ANY_FUNCTION]
    )
    created = client.create(
        "pipedrive", "https://acme.pipedrive.com", "pipedrive-token-" + secrets.token_hex(8)
    )
    faults.heal()
    statuses = [entry[2] for entry in recorder.seen if entry[0] == "POST"]
    assert statuses[0] == 0 and statuses[-1] == 201, statuses  # no answer, then the create's 201
    with Client(stack.base_url, api_key=org.key) as reader:
        assert [c.id for c in reader.list()] == [created.id]


class Crm(ThreadingHTTPServer):
    """A CRM on loopback: 200 with records for the fake's new token, 401 for any other."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), CrmHandler)
        self.tokens: list[str] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/services/data/v58.0/query"


class CrmHandler(BaseHTTPRequestHandler):
    server: Crm

    def do_GET(self) -> None:
        token = self.headers.get("Authorization", "").partition(" ")[2]
        with self.server.lock:
            self.server.tokens.append(token)
        ok = token == NEW_ACCESS_TOKEN
        body = json.dumps(
            {"records": [{"Name": "Ada"}]} if ok else [{"errorCode": "INVALID_SESSION_ID"}]
        ).encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def crm() -> Iterator[Crm]:
    server = Crm()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def refresh_records(stack: RunningStack, credentials_id: str) -> list[dict[str, Any]]:
    path = ROOT / ".local" / f"audit-{stack.port}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in records if r.get("credentials_id") == credentials_id and r.get("action") == "refresh"]


def test_forty_workers_meeting_a_crm_401_make_one_refresh_and_all_succeed(
    stack: RunningStack, org: Org, crm: Crm, token_endpoint: FakeEndpoint, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = "00D5g000001234567!AQYAQ-expired-" + secrets.token_hex(8)
    with Client(stack.base_url, api_key=org.key) as admin:
        created = admin.create(
            "salesforce",
            INSTANCE_URL,
            expired,
            {"instance_url": INSTANCE_URL, "refresh_token": REFRESH_TOKEN},
        )
    token_calls_before = len(token_endpoint.received)
    seen: list[tuple[str, str, int, str | None]] = []
    lock = threading.Lock()
    statuses: list[int] = []
    barrier = threading.Barrier(WORKERS + 1)

    def thread_worker() -> None:
        # Each thread its own client and CrmAuth: the single flight is the process's
        transport = Recorder(seen=seen, lock=lock)
        auth = CrmAuth(
            Client(stack.base_url, api_key=org.sync_key, transport=transport), provider="salesforce"
        )
        with httpx.Client() as http:
            barrier.wait()
            status = http.get(crm.url, params={"q": "SELECT Name FROM Lead"}, auth=auth).status_code
        with lock:
            statuses.append(status)

    async def task_workers() -> list[int]:
        client = AsyncClient(stack.base_url, api_key=org.sync_key, transport=AsyncRecorder(seen, lock))
        auth = CrmAuth(client, provider="salesforce")
        async with httpx.AsyncClient(auth=auth) as http:
            await asyncio.to_thread(barrier.wait)
            answers = await asyncio.gather(*(http.get(crm.url) for _ in range(WORKERS)))
        return [answer.status_code for answer in answers]

    threads = [threading.Thread(target=thread_worker) for _ in range(WORKERS)]
    for thread in threads:
        thread.start()
    task_statuses = asyncio.run(task_workers())
    for thread in threads:
        thread.join()

    assert statuses + task_statuses == [200] * (2 * WORKERS)
    refreshes = [entry for entry in seen if entry[1].endswith("/refresh")]
    assert len(refreshes) == 1, seen
    assert len(refresh_records(stack, created.id)) == 1
    assert len(token_endpoint.received) - token_calls_before == 1
    assert crm.tokens.count(NEW_ACCESS_TOKEN) == 2 * WORKERS and set(crm.tokens) == {
        expired,
        NEW_ACCESS_TOKEN,
    }
    for secret in (expired, NEW_ACCESS_TOKEN, REFRESH_TOKEN, org.sync_key, org.key):
        assert secret not in caplog.text and secret not in stack.log_text()

    # And a requests session with the same helper gets through at once (the token is cached)
    response = requests.get(
        crm.url, auth=CrmAuth(Client(stack.base_url, api_key=org.sync_key), provider="salesforce"), timeout=10
    )
    assert response.status_code == 200 and response.json()["records"] == [{"Name": "Ada"}]


def test_a_dead_grant_raises_reconnect_required(
    stack: RunningStack, org: Org, crm: Crm, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    expired = "00D5g000001234567!AQYAQ-dead-" + secrets.token_hex(8)
    dead_refresh = "dead-refresh-token-" + secrets.token_hex(8)
    with Client(stack.base_url, api_key=org.key) as admin:
        created = admin.create(
            "salesforce", INSTANCE_URL, expired, {"instance_url": INSTANCE_URL, "refresh_token": dead_refresh}
        )
    auth = CrmAuth(Client(stack.base_url, api_key=org.sync_key), credentials_id=created.id)
    with httpx.Client(auth=auth) as http, pytest.raises(ReconnectRequired) as raised:
        http.get(crm.url)
    message = str(raised.value)
    assert "The customer must reconnect salesforce" in message
    assert f'POST /integration-credentials/connect with {{"credentials_id": "{created.id}"}}' in message
    with Client(stack.base_url, api_key=org.key) as admin:
        assert admin.get(created.id).status == "reauth_required"
    for secret in (expired, dead_refresh, org.sync_key):
        assert secret not in message and secret not in repr(raised.value) and secret not in caplog.text
        assert secret not in stack.log_text()
