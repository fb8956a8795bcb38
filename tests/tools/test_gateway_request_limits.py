"""The local stack's HTTP front door (local_stack.http_api.GatewayRequestHandler) over a real
socket: API Gateway's quota on the request line and header values is a JSON 414 or 431, never a
dropped connection, and the access log never holds the query string."""

import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from local_stack.http_api import MAX_REQUEST_LINE_AND_HEADERS_BYTES, GatewayRequestHandler
from werkzeug.serving import make_server

LIMIT = MAX_REQUEST_LINE_AND_HEADERS_BYTES


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    body = json.dumps({"query_bytes": len(environ.get("QUERY_STRING", ""))}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


@pytest.fixture
def port() -> Iterator[int]:
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=GatewayRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the whole answer (the server closes): status, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


def get(port: int, target: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return exchange(port, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))


def request_line_bytes(target: str) -> int:
    return len(f"GET {target} HTTP/1.1")


def test_a_60_kb_oauth_callback_query_is_a_json_414(port: int) -> None:
    # When a request line of 60 KB comes in (a fuzzer's OAuth callback query)
    status, headers, body = get(port, "/integration-credentials/oauth/callback?state=" + "s" * 60_000)
    # Then API Gateway's answer comes back, not a dropped connection
    assert status == 414
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Request-URI Too Long"}


def test_a_request_line_over_http_servers_own_limit_is_the_same_json_414(port: int) -> None:
    status, headers, body = get(port, "/x?q=" + "q" * 70_000)
    assert (status, json.loads(body)) == (414, {"message": "Request-URI Too Long"})
    assert headers["content-type"] == "application/json"


def test_header_values_over_the_quota_with_the_line_are_a_json_431(port: int) -> None:
    # Given a short request line and header values that together pass the quota
    target = "/integration-credentials/"
    filler = "h" * (LIMIT // 2)
    status, headers, body = get(port, target, {"X-One": filler, "X-Two": filler})
    assert status == 431
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"message": "Request Header Fields Too Large"}


def test_a_header_line_over_http_servers_own_limit_is_the_same_json_431(port: int) -> None:
    status, _, body = get(port, "/", {"X-Huge": "h" * 70_000})
    assert (status, json.loads(body)) == (431, {"message": "Request Header Fields Too Large"})


def test_a_request_exactly_at_the_quota_reaches_the_app(port: int) -> None:
    # Given a request line and header values (Host, Connection, X-Fill) of exactly the quota
    target = "/q?" + "a" * 5000
    used = request_line_bytes(target) + len("127.0.0.1") + len("close")
    status, _, body = get(port, target, {"X-Fill": "f" * (LIMIT - used)})
    assert status == 200, body
    assert json.loads(body) == {"query_bytes": 5000}
    # And one byte more is refused
    status, _, _ = get(port, target, {"X-Fill": "f" * (LIMIT - used + 1)})
    assert status == 431


def test_a_request_line_alone_at_the_quota_is_431_with_its_headers_and_414_one_byte_over(port: int) -> None:
    base = "/q?"
    at_limit = base + "a" * (LIMIT - request_line_bytes(base))
    assert request_line_bytes(at_limit) == LIMIT
    assert get(port, at_limit)[0] == 431  # the line fits; with Host and Connection, the total does not
    assert get(port, at_limit + "a")[0] == 414


def test_the_access_log_of_a_refusal_names_no_query(port: int, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        get(port, "/integration-credentials/oauth/callback?state=secret-state-" + "s" * 20_000)
    assert "oauth/callback" in caplog.text
    assert "secret-state-" not in caplog.text
