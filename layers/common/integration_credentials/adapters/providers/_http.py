"""One request to a provider (a token endpoint's POST, an identity call's GET or POST, a
revocation) with the standard library, and the parsing every provider shares.

`post`'s `timeout` is a total deadline for the whole exchange (DNS, connect, TLS, request, status
line, headers and body), not urllib's per-socket-operation timeout: a token endpoint that drips
its answer a byte at a time must not hold a refresh past it, because once the provider has
answered there must still be time to store the rotated refresh token before Lambda stops us.
Every other call to a provider goes through the same exchange (`TokenRequest.method`, `headers`),
with the same deadline, the same cap on the answer and the same error messages without secrets.

Longer than 300 lines: the deadline-bound connection, the response parsing and the error
classification are one exchange, shared by every provider.
"""

import base64
import contextlib
import email.utils
import http.client
import json
import re
import socket
import ssl
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import TransientRefreshError

MAX_RESPONSE_BYTES = 65_536
MAX_MESSAGE_CHARS = 200
_REDACTED = "[redacted]"
# Runs of token alphabet at least 20 long that contain a digit: access and refresh tokens,
# secrets, JWTs, trace ids. Plain words and provider error codes are shorter or have no digit.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/=!*%:-]{20,}")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_USER_AGENT = "Python-urllib/{}.{}".format(*sys.version_info[:2])  # what urllib sent before


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What one provider sends: form body or query parameters, optional HTTP Basic, further
    headers (a bearer token: never in a repr), by POST or GET (no body). `endpoint` names the
    endpoint in error messages ("token endpoint", "identity endpoint"...)."""

    url: str
    form: dict[str, str] | None = field(default=None, repr=False)
    query: dict[str, str] | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)
    headers: dict[str, str] | None = field(default=None, repr=False)
    method: Literal["POST", "GET"] = "POST"
    endpoint: str = "token endpoint"


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """Status, headers that matter and the decoded JSON object (None when not a JSON object)."""

    status: int
    body: dict[str, Any] | None
    retry_after: float | None


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` without the given secrets or token-like values, on one line, at most 200 characters."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, _REDACTED)

    def _token(match: re.Match[str]) -> str:
        value = match.group(0)
        return _REDACTED if any(char.isdigit() for char in value) else value

    text = _TOKEN_LIKE.sub(_token, text)
    text = " ".join(text.split())
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[: MAX_MESSAGE_CHARS - 3] + "..."
    return text


def safe_code(value: object, default: str) -> str:
    """A provider error code when it looks like one and is not token-like, else `default`."""
    if isinstance(value, str) and _CODE.match(value) and redact(value, ()) == value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return default


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds or as an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def post(request: TokenRequest, timeout: float) -> TokenResponse:
    """Send the request (a POST unless `request.method` says GET); HTTP error statuses are
    returned, transport failures raised as transient.

    `timeout` is a total deadline in seconds for the whole exchange, DNS to the last body byte,
    so that the caller keeps the rest of its time budget for storing a rotated refresh token.
    Redirects are never followed (every request carries a secret): a 3xx is returned as is.
    """
    parts = urllib.parse.urlsplit(request.url)
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError(f"{request.endpoint} URL must be http or https")
    query = parts.query
    if request.query:
        query = f"{query}&" if query else ""
        query += urllib.parse.urlencode(request.query)
    target = (parts.path or "/") + (f"?{query}" if query else "")
    headers = {
        "Accept": "application/json",
        "User-Agent": _USER_AGENT,
        "Connection": "close",
    }
    data: bytes | None = None
    if request.method == "POST":
        # As urllib did: the body of a POST, even an empty one (Zoho), is declared as a form.
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        data = b""
        if request.form is not None:
            data = urllib.parse.urlencode(request.form).encode("ascii")
    elif request.form is not None:
        raise ValueError("a GET has no form body")
    if request.basic_auth is not None:
        user, password = request.basic_auth
        pair = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    headers.update(request.headers or {})
    endpoint = request.endpoint

    watchdog = _Watchdog(timeout)
    sent = False
    try:
        host, port = _host_and_port(parts, scheme)
        tls = ssl.create_default_context() if scheme == "https" else None
        if tls is not None:
            tls.set_alpn_protocols(["http/1.1"])
        connection = _Connection(host, port, watchdog, tls)
        response: http.client.HTTPResponse | None = None
        try:
            watchdog.start()
            # http.client adds Host (with the port when it is not the scheme's) and Content-Length.
            connection.request(request.method, target, body=data, headers=headers)
            sent = True
            response = connection.getresponse()
            status = response.status
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            try:
                raw = _read_capped(response, watchdog)
            except (OSError, http.client.HTTPException):
                if watchdog.expired() or 200 <= status < 300:
                    raise
                raw = b""  # an error status stands even when its body cannot be read
        finally:
            watchdog.stop()
            if response is not None:
                response.close()
            connection.close()
    except (_DeadlineExceededError, TimeoutError):
        raise TransientRefreshError("timeout", f"{endpoint} timed out") from None
    except (OSError, http.client.HTTPException):
        # After a shutdown by the watchdog a blocked call fails as a reset, an EOF or a bad
        # status line: the deadline is what happened.
        if watchdog.expired():
            raise TransientRefreshError("timeout", f"{endpoint} timed out") from None
        if not sent:
            raise TransientRefreshError("connection_error", f"could not reach the {endpoint}") from None
        raise TransientRefreshError("connection_error", f"{endpoint} connection failed") from None
    if watchdog.expired():
        # The watchdog may have cut the body short (an EOF that is not the server's).
        raise TransientRefreshError("timeout", f"{endpoint} timed out")
    return TokenResponse(status=status, body=_json_object(raw), retry_after=retry_after)


class _DeadlineExceededError(Exception):
    pass


class _Watchdog:
    """The deadline of one exchange: a timer that shuts the connection's socket down when it
    passes, so that a blocked connect, handshake, send or recv returns at once however slowly
    the peer drips bytes. Only the owning thread closes the socket (a close from the timer
    thread could race it and, with the descriptor reused, hit another socket)."""

    def __init__(self, timeout: float) -> None:
        self.deadline = time.monotonic() + timeout
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._fired = False
        self._stopped = False
        self._timer: threading.Timer | None = None

    def start(self) -> None:
        self._timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._socket = None
        if self._timer is not None:
            self._timer.cancel()

    def expired(self) -> bool:
        return self._fired or time.monotonic() >= self.deadline

    def remaining(self) -> float:
        """Seconds left; raises _DeadlineExceededError when there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0 or self._fired:
            raise _DeadlineExceededError
        return left

    def watch(self, sock: socket.socket) -> None:
        """Shut `sock` down at the deadline (it replaces any socket watched before)."""
        with self._lock:
            if self._fired:
                raise _DeadlineExceededError
            self._socket = sock

    def release(self, sock: socket.socket) -> None:
        """Close `sock`, a connection attempt that failed, without racing the timer."""
        with self._lock:
            if self._socket is sock:
                self._socket = None
            sock.close()

    def _fire(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._fired = True
            if self._socket is not None:
                with contextlib.suppress(OSError):
                    # socket.socket's own shutdown, also for an SSLSocket: no TLS close_notify
                    # from this thread, and the SSL object stays with the thread that uses it.
                    socket.socket.shutdown(self._socket, socket.SHUT_RDWR)


class _Connection(http.client.HTTPConnection):
    """An HTTP/1.1 connection whose connect and TLS handshake keep to the watchdog's deadline."""

    def __init__(self, host: str, port: int, watchdog: _Watchdog, tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port)
        self._watchdog = watchdog
        self._tls = tls
        if tls is not None:
            self.default_port = http.client.HTTPS_PORT  # the Host header omits the usual port

    def connect(self) -> None:
        sys.audit("http.client.connect", self, self.host, self.port)
        sock = _open_socket(self.host, self.port, self._watchdog)
        self.sock = sock
        if self._tls is not None:
            # The handshake is watched too: wrap first, then shake hands on the watched socket.
            tls_sock = self._tls.wrap_socket(sock, server_hostname=self.host, do_handshake_on_connect=False)
            self.sock = tls_sock
            self._watchdog.watch(tls_sock)
            tls_sock.settimeout(self._watchdog.remaining())
            tls_sock.do_handshake()


def _host_and_port(parts: urllib.parse.SplitResult, scheme: str) -> tuple[str, int]:
    try:
        port = parts.port
    except ValueError:
        raise http.client.InvalidURL("invalid port") from None
    if not parts.hostname:
        raise http.client.InvalidURL("no host")
    return parts.hostname, port or (http.client.HTTPS_PORT if scheme == "https" else http.client.HTTP_PORT)


def _open_socket(host: str, port: int, watchdog: _Watchdog) -> socket.socket:
    """A TCP connection to the first address that answers, each try within the time left."""
    last_error: OSError | None = None
    for family, kind, proto, _, address in _resolve(host, port, watchdog):
        sock = socket.socket(family, kind, proto)
        try:
            watchdog.watch(sock)
            sock.settimeout(watchdog.remaining())
            sock.connect(address)
        except OSError as error:
            watchdog.release(sock)
            if isinstance(error, TimeoutError) or watchdog.expired():
                raise
            last_error = error
            continue
        except BaseException:
            watchdog.release(sock)
            raise
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    raise last_error or OSError("no address for the token endpoint")


# family, type, proto, canonical name, socket address (whose shape depends on the family)
_Address = tuple[socket.AddressFamily, socket.SocketKind, int, str, Any]


def _resolve(host: str, port: int, watchdog: _Watchdog) -> Sequence[_Address]:
    """getaddrinfo within the time left: it cannot be interrupted, so it runs in a daemon thread
    that is abandoned (and ends with the resolver's own timeout) when the deadline passes."""
    outcome: list[Sequence[_Address] | Exception] = []

    def lookup() -> None:
        try:
            outcome.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except Exception as error:  # handed to the caller below
            outcome.append(error)

    thread = threading.Thread(target=lookup, name="token-endpoint-dns", daemon=True)
    thread.start()
    thread.join(watchdog.remaining())
    if not outcome:
        raise _DeadlineExceededError
    result = outcome[0]
    if isinstance(result, Exception):
        raise result
    return result


def _read_capped(response: http.client.HTTPResponse, watchdog: _Watchdog) -> bytes:
    """The body, at most MAX_RESPONSE_BYTES + 1 bytes of it, checking the deadline between reads."""
    raw = bytearray()
    while len(raw) <= MAX_RESPONSE_BYTES:
        watchdog.remaining()
        chunk = response.read1(MAX_RESPONSE_BYTES + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    return bytes(raw)


def _json_object(raw: bytes) -> dict[str, Any] | None:
    if len(raw) > MAX_RESPONSE_BYTES:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def error_fields(body: Mapping[str, Any] | None) -> tuple[object, str]:
    """The raw error code and description of an error body (OAuth, HubSpot or Zoho shape)."""
    if body is None:
        return None, ""
    code: object = None
    for key in ("error", "status", "errorCode", "error_code", "code"):
        if body.get(key) not in (None, ""):
            code = body[key]
            break
    description = ""
    for key in ("error_description", "message", "error_message"):
        value = body.get(key)
        if isinstance(value, str) and value:
            description = value
            break
    return code, description
