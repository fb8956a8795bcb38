"""Fake OAuth token endpoints on 127.0.0.1 that check requests the way each provider documents."""

import base64
import contextlib
import hashlib
import json
import secrets
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CLIENT_ID = "client-id-123"
CLIENT_SECRET = "s3cr3t-client-secret-0123456789abcdef"
REFRESH_TOKEN = "5Aep861rEfReShToKeN0123456789abcdefXYZ"
NEW_ACCESS_TOKEN = "00D5g000001234567!AQYAQnewAccessToken0123456789"
NEW_REFRESH_TOKEN = "rotatedRefreshToken0123456789abcdefABCDEF"


@dataclass
class Received:
    """One request as the fake saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def form(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(self.body.decode("ascii"), keep_blank_values=True)


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    # Seconds between bytes: the answer trickles out one byte at a time (a slow-drip endpoint),
    # from the status line on, or only the body when drip_headers is False.
    drip: float = 0.0
    drip_headers: bool = True


Behaviour = Callable[[Received], Reply]


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def do_POST(self) -> None:
        self._serve("POST")

    def do_GET(self) -> None:
        self._serve("GET")

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urllib.parse.urlsplit(self.path)
        received = Received(
            method=method,
            path=parts.path,
            query=urllib.parse.parse_qs(parts.query, keep_blank_values=True),
            headers={key.lower(): value for key, value in self.headers.items()},
            body=body,
        )
        self.server.received.append(received)
        reply = self.server.behaviour(received)
        if reply.delay:
            time.sleep(reply.delay)
        raw = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        content_type = "application/json" if not isinstance(reply.body, bytes) else "text/html"
        if reply.drip:
            self._drip(reply, raw, content_type)
            return
        # The client may have given up already (the timeout test): nothing to answer then.
        with contextlib.suppress(OSError):
            self.send_response(reply.status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(raw)))
            for key, value in reply.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(raw)

    def _drip(self, reply: Reply, raw: bytes, content_type: str) -> None:
        lines = [
            f"HTTP/1.1 {reply.status} {HTTPStatus(reply.status).phrase}",
            f"Content-Type: {content_type}",
            f"Content-Length: {len(raw)}",
            *(f"{key}: {value}" for key, value in reply.headers.items()),
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

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    received: list[Received]
    behaviour: Behaviour


@dataclass
class FakeEndpoint:
    base_url: str
    received: list[Received]

    def url(self, path: str) -> str:
        return self.base_url + path


@contextmanager
def serve(
    behaviour: Behaviour, *, tls: ssl.SSLContext | None = None, host_name: str | None = None
) -> Iterator[FakeEndpoint]:
    """The endpoint on 127.0.0.1; over HTTPS with `tls` (a server context), its URL naming
    `host_name` instead of the address when given (a certificate's name)."""
    server = _Server(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.received = []
    server.behaviour = behaviour
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        scheme = "https" if tls is not None else "http"
        yield FakeEndpoint(f"{scheme}://{host_name or host}:{port}", server.received)
    finally:
        server.shutdown()
        server.server_close()


# ---- what each provider documents ------------------------------------------------------------


def _bad(description: str) -> Reply:
    return Reply(400, {"error": "invalid_request", "error_description": description})


def _single(values: dict[str, list[str]]) -> dict[str, str] | None:
    if any(len(v) != 1 for v in values.values()):
        return None
    return {k: v[0] for k, v in values.items()}


def _form_request(received: Received, path: str) -> dict[str, str] | Reply:
    if received.method != "POST" or received.path != path:
        return Reply(404, {"error": "not_found"})
    if received.headers.get("content-type") != "application/x-www-form-urlencoded":
        return _bad("expected a form body")
    if received.query:
        return _bad("parameters belong in the body")
    form = _single(received.form)
    if form is None:
        return _bad("repeated parameter")
    return form


def salesforce(mode: str = "ok") -> Behaviour:
    def behave(received: Received) -> Reply:
        form = _form_request(received, "/services/oauth2/token")
        if isinstance(form, Reply):
            return form
        expected = {"grant_type", "refresh_token", "client_id", "client_secret"}
        if set(form) != expected or form["grant_type"] != "refresh_token":
            return _bad("unexpected parameters")
        if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
            return Reply(400, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if mode == "dead" or form["refresh_token"] != REFRESH_TOKEN:
            return Reply(400, {"error": "invalid_grant", "error_description": "expired access/refresh token"})
        return Reply(
            200,
            {
                "access_token": NEW_ACCESS_TOKEN,
                "signature": "SSSbLO/gBhmmyNUvN18ODBDFYHzakxOMgqYtu+hDPsc=",
                "scope": "refresh_token api",
                "instance_url": "https://mycompany.my.salesforce.com",
                "id": "https://login.salesforce.com/id/00Dxx0000001gPLEAY/005xx000001SwiUAAS",
                "token_type": "Bearer",
                "issued_at": "1700000000000",
            },
        )

    return behave


def hubspot(mode: str = "ok") -> Behaviour:
    def behave(received: Received) -> Reply:
        form = _form_request(received, "/oauth/v3/token")
        if isinstance(form, Reply):
            return form
        if set(form) != {"grant_type", "client_id", "client_secret", "refresh_token"}:
            return _bad("unexpected parameters")
        if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
            return Reply(400, {"status": "BAD_CLIENT_ID", "message": "missing or unknown client id"})
        if mode == "dead" or form["refresh_token"] != REFRESH_TOKEN:
            return Reply(
                400,
                {
                    "status": "BAD_REFRESH_TOKEN",
                    "message": "missing or unknown refresh token",
                    "correlationId": "a43683b0-5717-4ceb-80b4-104d02915d8c",
                },
            )
        return Reply(
            200,
            {
                "token_type": "bearer",
                "refresh_token": NEW_REFRESH_TOKEN,
                "access_token": NEW_ACCESS_TOKEN,
                "expires_in": 1800,
            },
        )

    return behave


def pipedrive(mode: str = "ok") -> Behaviour:
    def behave(received: Received) -> Reply:
        form = _form_request(received, "/oauth/token")
        if isinstance(form, Reply):
            return form
        expected_auth = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if received.headers.get("authorization") != expected_auth:
            return Reply(401, {"success": False, "error": "unauthorized", "error_description": "bad client"})
        if form != {"grant_type": "refresh_token", "refresh_token": form.get("refresh_token", "")}:
            return _bad("unexpected parameters")
        if mode == "dead" or form["refresh_token"] != REFRESH_TOKEN:
            return Reply(400, {"success": False, "message": "Invalid grant: refresh token is invalid"})
        return Reply(
            200,
            {
                "access_token": NEW_ACCESS_TOKEN,
                "token_type": "Bearer",
                "refresh_token": REFRESH_TOKEN,
                "scope": "base,deals:full",
                "expires_in": 3599,
                "api_domain": "https://mycompany.pipedrive.com",
            },
        )

    return behave


def zoho(mode: str = "ok") -> Behaviour:
    def behave(received: Received) -> Reply:
        # The body, as Zoho's guides ask "for security reasons" (its token endpoint takes both).
        query = _form_request(received, "/oauth/v2/token")
        if isinstance(query, Reply):
            return query
        if set(query) != {"grant_type", "client_id", "client_secret", "refresh_token"}:
            return _bad("unexpected parameters")
        if query["client_id"] != CLIENT_ID or query["client_secret"] != CLIENT_SECRET:
            return Reply(200, {"error": "invalid_client"})
        if mode == "dead" or query["refresh_token"] != REFRESH_TOKEN:
            return Reply(200, {"error": "invalid_code"})  # Zoho answers 200 with an error
        if mode == "throttled":
            return Reply(
                400,
                {
                    "error_description": "You have made too many requests continuously. Please try again after some time.",
                    "error": "Access Denied",
                    "status": "failure",
                },
            )
        return Reply(
            200,
            {
                "access_token": NEW_ACCESS_TOKEN,
                "api_domain": "https://www.zohoapis.eu",
                "token_type": "Bearer",
                "expires_in": 3600,
                "scope": "ZohoCRM.modules.ALL",
            },
        )

    return behave


def dynamics(tenant: str, org: str, mode: str = "ok") -> Behaviour:
    def behave(received: Received) -> Reply:
        form = _form_request(received, f"/{tenant}/oauth2/v2.0/token")
        if isinstance(form, Reply):
            return form
        if set(form) != {"grant_type", "client_id", "client_secret", "refresh_token", "scope"}:
            return _bad("AADSTS900144: The request body must contain the following parameter")
        if form["scope"] != f"https://{org}/.default offline_access":
            return Reply(400, {"error": "invalid_scope", "error_description": "AADSTS70011: invalid scope"})
        if form["client_id"] != CLIENT_ID or form["client_secret"] != CLIENT_SECRET:
            return Reply(
                401,
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                    "error_codes": [7000215],
                },
            )
        if mode == "dead" or form["refresh_token"] != REFRESH_TOKEN:
            return Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": (
                        "AADSTS700082: The refresh token has expired due to inactivity. The token was "
                        "issued on 2026-01-01T00:00:00Z and was inactive for 90.00:00:00. Trace ID: "
                        "0b1f9a2e-5c3d-4e6f-8a9b-0c1d2e3f4a5b Correlation ID: "
                        "1c2d3e4f-5a6b-7c8d-9e0f-1a2b3c4d5e6f Timestamp: 2026-04-01 10:00:00Z"
                    ),
                    "error_codes": [700082],
                    "timestamp": "2026-04-01 10:00:00Z",
                    "trace_id": "0b1f9a2e-5c3d-4e6f-8a9b-0c1d2e3f4a5b",
                },
            )
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "scope": f"https://{org}/user_impersonation https://{org}/.default",
                "expires_in": 4788,
                "ext_expires_in": 4788,
                "access_token": NEW_ACCESS_TOKEN,
                "refresh_token": NEW_REFRESH_TOKEN,
            },
        )

    return behave


def fixed(reply: Reply) -> Behaviour:
    return lambda received: reply


class RotatingChain:
    """A Salesforce connected app with refresh token rotation: every refresh token works once
    and is replaced by a new one; replaying a used one revokes the whole chain (as Salesforce
    does), after which every refresh fails with invalid_grant."""

    def __init__(
        self, first: str = REFRESH_TOKEN, *, delay: float = 0.0, answer_after: threading.Event | None = None
    ) -> None:
        self.current = first
        self.delay = delay
        # With an event, each answer waits for it (up to 10 s): a test decides when the provider
        # answers, instead of guessing how long its other requests take.
        self.answer_after = answer_after
        self.used: list[str] = []
        self.replayed: list[str] = []
        self.revoked = False
        self._lock = threading.Lock()

    def behaviour(self) -> Behaviour:
        def behave(received: Received) -> Reply:
            form = _form_request(received, "/services/oauth2/token")
            if isinstance(form, Reply):
                return form
            if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
                return Reply(
                    400, {"error": "invalid_client", "error_description": "invalid client credentials"}
                )
            with self._lock:
                token = form.get("refresh_token", "")
                if token in self.used:
                    self.replayed.append(token)
                    self.revoked = True
                if self.revoked or token != self.current:
                    return Reply(
                        400, {"error": "invalid_grant", "error_description": "expired access/refresh token"}
                    )
                self.used.append(token)
                number = len(self.used)
                self.current = f"rotatedRefreshToken{number}x{secrets.token_hex(12)}"
                body = {
                    "access_token": f"00D5g000001234567!AQYAQaccess{number}x{secrets.token_hex(12)}",
                    "refresh_token": self.current,
                    "instance_url": "https://mycompany.my.salesforce.com",
                    "token_type": "Bearer",
                    "issued_at": "1700000000000",
                }
            if self.answer_after is not None:
                self.answer_after.wait(timeout=10)
            return Reply(200, body, delay=self.delay)

        return behave


# ---- the authorization-code exchange (connect) -----------------------------------------------

AUTH_CODE = "aPrxAuthCode0123456789abcdefAuthorizationCode"
REDIRECT_URI = "https://app.example.com/integration-credentials/oauth/callback"


def s256(verifier: str) -> str:
    """RFC 7636 S256, computed here independently of the code under test."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def id_token(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT (header.payload.signature) carrying `claims`."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlMDEyMzQ1Njc4OQ"


@dataclass(frozen=True)
class CodeGrant:
    """What one provider's token endpoint demands of an authorization_code grant and answers."""

    path: str
    success: dict[str, Any]
    refused: Reply
    basic_auth: bool = False  # client credentials in HTTP Basic only (Pipedrive), else in the form
    extra: dict[str, str] = field(default_factory=dict)  # further form parameters it requires
    pkce: bool = False  # it checks a code_verifier against the challenge it was given


def code_grants(tenant: str, org: str) -> dict[str, CodeGrant]:
    """Each provider's documented code exchange (the PKCE challenge is the fake's own state)."""
    return {
        "salesforce": CodeGrant(
            "/services/oauth2/token",
            {
                "access_token": NEW_ACCESS_TOKEN,
                "refresh_token": NEW_REFRESH_TOKEN,
                "instance_url": "https://mycompany.my.salesforce.com",
                "token_type": "Bearer",
                "scope": "refresh_token api",
                "issued_at": "1700000000000",
            },
            Reply(400, {"error": "invalid_grant", "error_description": "invalid authorization code"}),
            pkce=True,
        ),
        "hubspot": CodeGrant(
            "/oauth/v3/token",
            {
                "token_type": "bearer",
                "refresh_token": NEW_REFRESH_TOKEN,
                "access_token": NEW_ACCESS_TOKEN,
                "expires_in": 1800,
            },
            Reply(400, {"status": "BAD_AUTH_CODE", "message": "missing or unknown auth code"}),
            pkce=True,
        ),
        "pipedrive": CodeGrant(
            "/oauth/token",
            {
                "access_token": NEW_ACCESS_TOKEN,
                "token_type": "Bearer",
                "refresh_token": NEW_REFRESH_TOKEN,
                "scope": "base,deals:full",
                "expires_in": 3599,
                "api_domain": "https://mycompany.pipedrive.com",
            },
            Reply(400, {"success": False, "message": "Invalid grant: authorization code is invalid"}),
            basic_auth=True,
        ),
        "zoho": CodeGrant(
            "/oauth/v2/token",
            {
                "access_token": NEW_ACCESS_TOKEN,
                "refresh_token": NEW_REFRESH_TOKEN,
                "api_domain": "https://www.zohoapis.eu",
                "token_type": "Bearer",
                "expires_in": 3600,
            },
            Reply(200, {"error": "invalid_code"}),  # Zoho answers 200 with an error
            pkce=True,
        ),
        "dynamics": CodeGrant(
            f"/{tenant}/oauth2/v2.0/token",
            {
                "token_type": "Bearer",
                "scope": f"https://{org}/user_impersonation",
                "expires_in": 4788,
                "access_token": NEW_ACCESS_TOKEN,
                "refresh_token": NEW_REFRESH_TOKEN,
                "id_token": id_token({"tid": "72f988bf-86f1-41af-91ab-2d7cd011db47", "oid": "user"}),
            },
            Reply(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "AADSTS70008: The provided authorization code or refresh token has "
                    "expired due to inactivity. Trace ID: 0b1f9a2e-5c3d-4e6f-8a9b-0c1d2e3f4a5b",
                    "error_codes": [70008],
                },
            ),
            extra={"scope": f"https://{org}/user_impersonation offline_access openid"},
            pkce=True,
        ),
    }


def code_exchange(grant: CodeGrant, *, challenge: str | None = None, mode: str = "ok") -> Behaviour:
    """A token endpoint that issued AUTH_CODE for REDIRECT_URI (with `challenge`, S256, when the
    provider supports PKCE) and checks the exchange as the provider documents it."""

    def behave(received: Received) -> Reply:
        form = _form_request(received, grant.path)
        if isinstance(form, Reply):
            return form
        expected = {"grant_type", "code", "redirect_uri", *grant.extra}
        if not grant.basic_auth:
            expected |= {"client_id", "client_secret"}
        if grant.pkce and challenge is not None:
            expected.add("code_verifier")
        if set(form) != expected or form["grant_type"] != "authorization_code":
            return _bad(f"unexpected parameters {sorted(form)}")
        if any(form[key] != value for key, value in grant.extra.items()):
            return Reply(
                400, {"error": "invalid_scope", "error_description": "scope differs from the authorize step"}
            )
        if grant.basic_auth:
            expected_auth = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            credentials_ok = received.headers.get("authorization") == expected_auth
        else:
            credentials_ok = form["client_id"] == CLIENT_ID and form["client_secret"] == CLIENT_SECRET
            credentials_ok = credentials_ok and "authorization" not in received.headers
        if not credentials_ok:
            return Reply(401, {"error": "invalid_client", "error_description": "invalid client credentials"})
        if form["redirect_uri"] != REDIRECT_URI:
            return Reply(400, {"error": "invalid_grant", "error_description": "redirect_uri mismatch"})
        if grant.pkce and challenge is not None and s256(form["code_verifier"]) != challenge:
            return Reply(400, {"error": "invalid_grant", "error_description": "code verifier does not match"})
        if mode == "refused" or form["code"] != AUTH_CODE:
            return grant.refused
        return Reply(200, grant.success)

    return behave
