"""The one HTTP client of the smoke suite and the e2e tests (smoke.Http), against a loopback
server that records what it receives: it sends only the headers a test asked for, never follows
a redirect, and shows no key in its repr or a reply's."""

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from smoke import Http
from smoke.errors import CheckFailedError


class Recorder(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append({"method": self.command, "headers": dict(self.headers.items()), "body": body})
        if self.path.startswith("/redirect"):
            self.send_response(302)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        payload = json.dumps({"ok": True}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = answer  # noqa: N815 (http.server names them so)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Recorder,), {"received": received})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", received
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_raw_data_goes_without_a_content_type_unless_the_caller_gives_one(server):
    base_url, received = server
    client = Http(base_url, None)
    client.request("POST", "/raw", data='{"provider": "x"}')
    client.request("POST", "/typed", data="a=b", headers={"Content-Type": "text/plain"})
    client.request("POST", "/json", {"provider": "x"})
    sent = [{name.lower(): value for name, value in r["headers"].items()} for r in received]
    assert "content-type" not in sent[0] and received[0]["body"] == b'{"provider": "x"}'
    assert sent[1]["content-type"] == "text/plain"
    assert sent[2]["content-type"] == "application/json"


def test_the_callers_headers_replace_the_clients_own(server):
    base_url, received = server
    Http(base_url, "sk_live_" + "k" * 40).request("GET", "/", headers={"x-api-key": "other", "Accept": "*/*"})
    sent = {name.lower(): value for name, value in received[0]["headers"].items()}
    assert sent["x-api-key"] == "other" and sent["accept"] == "*/*"


def test_a_redirect_is_answered_not_followed(server):
    base_url, received = server
    reply = Http(base_url, "sk_live_" + "k" * 40).get("/redirect")
    assert reply.status == 302 and reply.headers["Location"] == "/elsewhere"
    assert len(received) == 1


def test_no_key_or_body_in_a_repr_and_no_query_in_a_failure(server):
    base_url, _ = server
    key = "sk_live_" + "s" * 40
    client = Http(base_url, key)
    reply = client.get("/?cursor=secret-cursor")
    assert key not in repr(client) and b"ok" not in repr(reply).encode()
    with pytest.raises(CheckFailedError) as failure:
        Http("http://127.0.0.1:9", key, timeout=2).get("/?state=secret-state")
    assert "secret-state" not in str(failure.value) and key not in str(failure.value)
