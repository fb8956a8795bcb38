"""A fake of the service for the client's unit tests (no tests of its own here): an httpx.MockTransport (no socket) that
answers the routes from a dict, records what it received, and can fail chosen calls."""

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from integration_credentials_client import AsyncClient, Client, RetryPolicy

API_KEY = "sk_live_" + "K" * 40
BASE = "/integration-credentials"


def body_of(request: httpx.Request) -> Any:
    return json.loads(request.content) if request.content else None


# `?verify=true` refuses this token, and verifications name this account.
REFUSED_TOKEN = "refused-by-the-crm"
ACCOUNT = {"id": "1234567", "name": "acme.pipedrive.com"}


@dataclass
class FakeService:
    """The routes over an in-memory dict; `script` answers chosen requests first (a function of
    the request returning a Response, an exception to raise, or None to serve it normally)."""

    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)
    received: list[httpx.Request] = field(default_factory=list)
    script: list[Callable[[httpx.Request], Any]] = field(default_factory=list)
    idempotency: dict[str, str] = field(default_factory=dict)
    new_token: str = "refreshed-token-" + "N" * 20
    refresh_answer: Callable[[str], httpx.Response] | None = None
    # A base URL per fake: CrmAuth's process-wide cache never mixes two tests' credentials.
    base_url: str = field(default_factory=lambda: f"https://svc-{uuid.uuid4().hex[:8]}.example")

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.received.append(request)
        for step in list(self.script):
            self.script.remove(step)
            answer = step(request)
            if isinstance(answer, BaseException):
                raise answer
            if answer is not None:
                return answer
            break
        return self.serve(request)

    def answer(self, credentials_id: str, status: int = 200) -> httpx.Response:
        return httpx.Response(
            status, json=self.rows[credentials_id], headers={"ETag": f'"{self.versions[credentials_id]}"'}
        )

    def serve(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if request.headers.get("X-API-Key") != API_KEY:
            return httpx.Response(401, json={"detail": "Invalid or missing authentication credentials"})
        if method == "POST" and path == f"{BASE}/":
            key = request.headers.get("Idempotency-Key", "")
            if key in self.idempotency:
                return self.answer(self.idempotency[key], 201)
            body = body_of(request)
            if request.url.params.get("verify") == "true":
                if body["access_token"] == REFUSED_TOKEN:
                    return httpx.Response(
                        400, json={"detail": "The CRM rejected these credentials: http_401: refused"}
                    )
                body = {**body, "account": ACCOUNT, "verified_at": "2030-01-01T00:00:00.000000Z"}
            credentials_id = str(uuid.uuid4())
            self.rows[credentials_id] = {"id": credentials_id, "org_id": "org-1", "status": "active", **body}
            self.versions[credentials_id] = 1
            self.idempotency[key] = credentials_id
            return self.answer(credentials_id, 201)
        if method == "GET" and path == f"{BASE}/":
            return self.page(request)
        if method == "POST" and path == f"{BASE}/connect":
            return httpx.Response(
                201,
                json={
                    "connect_url": "https://crm.example/authorize?state=s",
                    "expires_at": "2030-01-01T00:00:00.000000Z",
                    "state_hash": "h",
                },
            )
        if path.startswith(f"{BASE}/provider/"):
            provider = path.rsplit("/", 1)[1]
            for credentials_id, row in self.rows.items():
                if row["provider"] == provider:
                    return self.answer(credentials_id)
            return httpx.Response(
                404, json={"detail": f"Integration credentials for provider '{provider}' not found"}
            )
        parts = path.removeprefix(f"{BASE}/").split("/")
        credentials_id = parts[0]
        if credentials_id not in self.rows:
            return httpx.Response(404, json={"detail": f"Integration credentials {credentials_id} not found"})
        if parts[1:] == ["refresh"]:
            if self.refresh_answer is not None:
                return self.refresh_answer(credentials_id)
            self.rows[credentials_id]["access_token"] = self.new_token
            self.versions[credentials_id] += 1
            return self.answer(credentials_id)
        if parts[1:] == ["verify"]:
            row = {
                **self.rows[credentials_id],
                "account": ACCOUNT,
                "verified_at": "2030-01-01T00:00:00.000000Z",
            }
            self.rows[credentials_id] = row
            self.versions[credentials_id] += 1
            visible = {name: value for name, value in row.items() if name != "access_token"}
            return httpx.Response(
                200, json={**visible, "metadata": {}}, headers={"ETag": f'"{self.versions[credentials_id]}"'}
            )
        if method == "GET":
            return self.answer(credentials_id)
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match != f'"{self.versions[credentials_id]}"':
            return httpx.Response(
                412,
                json={
                    "detail": "Precondition failed: the credentials were modified since the ETag given in If-Match"
                },
                headers={"ETag": f'"{self.versions[credentials_id]}"'},
            )
        if method == "PUT":
            body = body_of(request)
            row = self.rows[credentials_id]
            for name in ("dsn", "access_token"):
                if name in body:
                    row[name] = body[name]
            metadata = {**row.get("metadata", {}), **body.get("metadata", {})}
            row["metadata"] = {k: v for k, v in metadata.items() if v is not None}
            self.versions[credentials_id] += 1
            return self.answer(credentials_id)
        if method == "DELETE":
            del self.rows[credentials_id]
            return httpx.Response(
                200, json={"message": f"Integration credentials {credentials_id} deleted successfully"}
            )
        return httpx.Response(404, json={"detail": "Not found"})

    def page(self, request: httpx.Request) -> httpx.Response:
        ordered = sorted(self.rows.values(), key=lambda row: row["provider"])
        limit = int(request.url.params.get("limit", "100"))
        after = request.url.params.get("cursor")
        if after is not None:
            ordered = [row for row in ordered if row["provider"] > after]
        page, rest = ordered[:limit], ordered[limit:]
        headers = {}
        if rest:
            headers["Link"] = f'<{BASE}/?limit={limit}&cursor={page[-1]["provider"]}>; rel="next"'
        return httpx.Response(200, json=page, headers=headers)

    def count(self, method: str, suffix: str) -> int:
        return sum(1 for r in self.received if r.method == method and r.url.path.endswith(suffix))


@dataclass
class Sleeps:
    """The waits a client made, instead of making them."""

    waits: list[float] = field(default_factory=list)
    now: float = 0.0

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now += seconds

    async def async_sleep(self, seconds: float) -> None:
        self.sleep(seconds)

    def clock(self) -> float:
        return self.now

    def policy(self, **overrides: Any) -> RetryPolicy:
        options: dict[str, Any] = {"attempts": 4, "total_seconds": 30.0, "jitter": lambda top: top}
        options.update(overrides)
        return RetryPolicy(sleep=self.sleep, async_sleep=self.async_sleep, clock=self.clock, **options)


def client_of(service: FakeService, sleeps: Sleeps | None = None, **policy: Any) -> Client:
    sleeps = sleeps or Sleeps()
    return Client(
        service.base_url,
        api_key=API_KEY,
        retries=sleeps.policy(**policy),
        transport=httpx.MockTransport(service.handle),
    )


def async_client_of(service: FakeService, sleeps: Sleeps | None = None, **policy: Any) -> AsyncClient:
    sleeps = sleeps or Sleeps()
    return AsyncClient(
        service.base_url,
        api_key=API_KEY,
        retries=sleeps.policy(**policy),
        transport=httpx.MockTransport(service.handle),
    )
