"""The fakes' HTTP host: a threaded server on 127.0.0.1 (a free port unless one is given) that hands
each request to a behaviour (`Received -> Reply`) and writes its answer, on time, late, or one
byte at a time. Every fake CRM is a behaviour; so is a scripted fault (`faults.fixed`).

Each server holds its own state (the requests it received, how many it served at once): tests
running in parallel or in any order share nothing.
"""

import contextlib
import json
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MAX_BODY_BYTES = 65_536
JSON = "application/json;charset=UTF-8"
HTML = "text/html; charset=utf-8"


@dataclass
class Received:
    """One request as the fake saw it (kept in memory for the test that started the fake)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode("latin-1"), keep_blank_values=True)


@dataclass
class Reply:
    """An answer: a JSON body (any JSON value) or raw bytes (HTML unless `content_type` says)."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before the answer starts (a slow provider)
    # Seconds between bytes: the answer trickles out one byte at a time (a slow-drip endpoint),
    # from the status line on, or only the body when drip_headers is False.
    drip: float = 0.0
    drip_headers: bool = True
    content_type: str | None = None


Behaviour = Callable[[Received], Reply]


def fixed(reply: Reply) -> Behaviour:
    """A scripted answer to every request: an outage, a rate limit, a malformed or odd body."""
    return lambda received: reply


def encoded(reply: Reply) -> tuple[bytes, str]:
    """The body's bytes and Content-Type."""
    if isinstance(reply.body, bytes):
        return reply.body, reply.content_type or "text/html"
    return json.dumps(reply.body).encode(), reply.content_type or JSON


class _Handler(BaseHTTPRequestHandler):
    server: "FakeServer"
    server_version = "FakeCRM/1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self.close_connection = True
            self._write(Reply(413, {"error": "invalid_request", "error_description": "body too large"}))
            return
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        received = Received(
            method=method,
            path=parts.path,
            query=urllib.parse.parse_qs(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        with self.server.counting():
            self.server.received.append(received)
            reply = self.server.behaviour(received)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.drip:
                self._drip(reply)
            else:
                self._write(reply)

    def _head(self, reply: Reply, raw: bytes, content_type: str) -> list[tuple[str, str]]:
        return [
            ("Content-Type", content_type),
            ("Content-Length", str(len(raw))),
            ("Cache-Control", "no-store"),
            *reply.headers.items(),
        ]

    def _write(self, reply: Reply) -> None:
        raw, content_type = encoded(reply)
        # The client may have given up already (a timeout test): nothing to answer then.
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            for name, value in self._head(reply, raw, content_type):
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)

    def _drip(self, reply: Reply) -> None:
        raw, content_type = encoded(reply)
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            *(f"{name}: {value}" for name, value in self._head(reply, raw, content_type)),
        ]
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.close_connection = True
        # Until the client hangs up (a write then fails) or everything is out.
        with contextlib.suppress(OSError):
            stream = head + raw
            if not reply.drip_headers:
                self.wfile.write(head)
                stream = raw
            for index in range(len(stream)):
                self.wfile.write(stream[index : index + 1])
                time.sleep(reply.drip)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and the path, never the query string: it carries codes, states and challenges.
        if self.server.log:
            path = urllib.parse.urlsplit(self.path).path
            sys.stderr.write(f"fake CRMs: {self.command} {path} {code}\n")

    def log_error(self, format: str, *args: Any) -> None:
        # http.server's messages can quote the raw request line (with its query string).
        if self.server.log:
            sys.stderr.write("fake CRMs: a malformed request\n")


class FakeServer(ThreadingHTTPServer):
    """One behaviour served on 127.0.0.1, with what it received and how busy it was."""

    daemon_threads = True

    def __init__(self, behaviour: Behaviour, *, port: int = 0, log: bool = False) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.behaviour = behaviour
        self.log = log
        self.received: list[Received] = []
        self.served = 0  # requests answered (or being answered)
        self.most_at_once = 0
        self._now = 0
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @contextmanager
    def counting(self) -> Iterator[None]:
        with self._lock:
            self._now += 1
            self.served += 1
            self.most_at_once = max(self.most_at_once, self._now)
        try:
            yield
        finally:
            with self._lock:
                self._now -= 1

    def reset_counts(self) -> None:
        with self._lock:
            self.served = 0
            self.most_at_once = self._now

    def start(self) -> "FakeServer":
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-crms", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(5)


@dataclass
class FakeEndpoint:
    """A served behaviour: its base URL (no trailing slash) and the requests it received."""

    base_url: str
    received: list[Received]
    server: FakeServer

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def serve(
    behaviour: Behaviour, *, tls: ssl.SSLContext | None = None, host_name: str | None = None
) -> Iterator[FakeEndpoint]:
    """Serve `behaviour` on 127.0.0.1 (a free port) for the block; over HTTPS with `tls` (a
    server context), its URL naming `host_name` instead of the address when given (a
    certificate's name)."""
    server = FakeServer(behaviour)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.start()
    try:
        host, port = server.server_address[:2]
        scheme = "https" if tls is not None else "http"
        yield FakeEndpoint(f"{scheme}://{host_name or host!s}:{port}", server.received, server)
    finally:
        server.stop()
