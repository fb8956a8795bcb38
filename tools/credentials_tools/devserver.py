"""`make run`: the API on http://127.0.0.1:$PORT (3000) over embedded AWS, no Docker, no account.

Starts moto on 127.0.0.1:$PORT+1, creates the table, KMS key and JWT secret that template.yaml
declares, mints an API key for a demo org, and serves the template's HttpApi routes by invoking
the same handlers with API Gateway HTTP API (v2) events, each function in its own processes.
It also serves, without authentication and only locally, the OpenAPI document generated from the
functions at /openapi.json and a Swagger UI at /docs whose assets come from the Powertools wheel
(no CDN: it works offline).
"""

import base64
import importlib.resources
import json
import os
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import make_server

from .embedded_aws import FAKE_CREDENTIALS, EmbeddedAws, LocalResources, provision
from .lambda_runtime import FunctionPool
from .template import ROOT, Route, function_environment, routes

DEMO_ORG_ID = "123e4567-e89b-12d3-a456-426614174000"  # the seed's example org
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
StartResponse = Callable[..., Any]


def api_gateway_event(
    environ: dict[str, Any], route: Route, path_parameters: dict[str, str], body: bytes
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event for one request."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": f"{route.method} {route.path}",
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": f"{route.method} {route.path}",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


SWAGGER_UI_PACKAGE = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
DOCS_ASSETS = {
    "/docs/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "application/javascript; charset=utf-8"),
    "/docs/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}


class ApiDocs:
    """GET /openapi.json (generated from the functions on first use) and the Swagger UI at /docs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._document: str | None = None

    def document(self) -> str:
        """openapi.json as `make openapi` writes it, from the code this stack runs."""
        with self._lock:
            if self._document is None:
                from .openapi import build_document, render

                self._document = render(build_document())
            return self._document

    def page(self) -> str:
        """Swagger UI with the document inline and its script and style served from /docs/."""
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

        return generate_swagger_html(
            # "</" would end the inline <script> early.
            spec=self.document().replace("</", "<\\/"),
            swagger_js="/docs/swagger-ui-bundle.min.js",
            swagger_css="/docs/swagger-ui.min.css",
            swagger_base_url="/docs",
            oauth2_config=None,
            persist_authorization=False,
        )

    @staticmethod
    def asset(name: str) -> bytes:
        """A Swagger UI file shipped inside the Powertools wheel."""
        return importlib.resources.files(SWAGGER_UI_PACKAGE).joinpath(name).read_bytes()

    def serve(self, path: str, query: str, start_response: StartResponse) -> list[bytes] | None:
        """The response for a docs path, or None when `path` is not one."""
        try:
            # The page links its document as /docs?format=json (as Powertools' enable_swagger does).
            if path == "/openapi.json" or (path == "/docs" and ("format", "json") in parse_qsl(query)):
                return _send(start_response, 200, "application/json", self.document().encode())
            if path in ("/docs", "/docs/"):
                return _send(start_response, 200, "text/html; charset=utf-8", self.page().encode())
            if path in DOCS_ASSETS:
                name, content_type = DOCS_ASSETS[path]
                return _send(start_response, 200, content_type, self.asset(name))
        except Exception:
            traceback.print_exc()
            return _reply(start_response, 500, {"message": "Internal Server Error"})
        return None


class LocalApi:
    """WSGI app: matches the template's routes and invokes the functions' handlers."""

    def __init__(self, pools: dict[str, FunctionPool]) -> None:
        self._routes = routes()
        self._pools = pools
        self._docs = ApiDocs()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/")
        if method in ("GET", "HEAD"):
            docs = self._docs.serve(path, environ.get("QUERY_STRING", ""), start_response)
            if docs is not None:
                return docs if method == "GET" else []
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BYTES:
            return _reply(start_response, 413, {"message": "Request Entity Too Large"})
        body = environ["wsgi.input"].read(length) if length else b""
        for route in self._routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                event = api_gateway_event(environ, route, match.groupdict(), body)
                status, result = self._pools[route.function].invoke(event)
                if status != "ok":
                    return _reply(start_response, 500, {"message": "Internal Server Error"})
                return _lambda_reply(start_response, result)
        return _reply(start_response, 404, {"message": "Not Found"})


def _reply(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    return _send(start_response, status, "application/json", json.dumps(payload).encode())


def _send(start_response: StartResponse, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(
        f"{status} {_reason(status)}",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def _lambda_reply(start_response: StartResponse, result: dict[str, Any]) -> list[bytes]:
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", cookie) for cookie in result.get("cookies") or []]
    headers.append(("Content-Length", str(len(body))))
    status = int(result.get("statusCode", 200))
    start_response(f"{status} {_reason(status)}", headers)
    return [body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


class LocalStack:
    """Embedded AWS + provisioned resources + the HTTP API; start() returns once it serves."""

    def __init__(self, port: int, aws_port: int, jwt_secret: str, max_instances: int = 8) -> None:
        self.port = port
        self.jwt_secret = jwt_secret
        self.aws = EmbeddedAws(aws_port)
        self._max_instances = max_instances
        self._pools: dict[str, FunctionPool] = {}
        self._server: Any = None
        self.resources: LocalResources | None = None

    def start(self) -> None:
        """Start embedded AWS, provision, warm one instance per function, then serve."""
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        self.aws.start()
        os.environ.setdefault("AWS_ENDPOINT_URL", self.aws.endpoint)
        self.resources = provision(os.environ["AWS_ENDPOINT_URL"], self.jwt_secret)
        env = {
            **function_environment(self.resources.refs, self.resources.attributes),
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_DEV": "false",
            # Locally the audit channel is a file (in AWS: the functions' log streams, routed away).
            "AUDIT_LOG_FILE": os.environ.get("AUDIT_LOG_FILE")
            or str(ROOT / ".local" / f"audit-{self.port}.jsonl"),
        }
        # Settings the developer exported win over the template's defaults (JWT_ISSUER, LOG level...).
        env.update({name: os.environ[name] for name in env if name in os.environ})
        for route in routes():
            if route.function not in self._pools:
                self._pools[route.function] = FunctionPool(
                    route.function, route.code_uri, route.handler, env, self._max_instances
                )
        with ThreadPoolExecutor(max_workers=len(self._pools)) as executor:
            list(executor.map(lambda pool: pool.warm(), self._pools.values()))
        self._server = make_server("127.0.0.1", self.port, LocalApi(self._pools), threaded=True)
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True).start()

    def stop(self) -> None:
        """Stop serving, stop the function instances, stop embedded AWS."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        # Each warm instance takes ~0.3-0.6 s to exit and a pool stops its own one by one: stop the
        # pools side by side so Ctrl-C stays quick after concurrent traffic has grown them.
        if self._pools:
            with ThreadPoolExecutor(max_workers=len(self._pools)) as executor:
                list(executor.map(lambda pool: pool.stop(), self._pools.values()))
        self.aws.stop()


def main() -> int:
    """Entry point of `make run` / `credentials-local`."""
    import boto3
    from integration_credentials.repository import ApiKeyRepository

    from .admin import create_api_key

    port = int(os.environ.get("PORT", "3000"))
    aws_port = int(os.environ.get("AWS_PORT", str(port + 1)))
    jwt_secret = os.environ.get("JWT_SECRET")
    generated = jwt_secret is None
    jwt_secret = jwt_secret or secrets.token_urlsafe(32)
    stack = LocalStack(port, aws_port, jwt_secret)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    assert stack.resources is not None
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ["AWS_ENDPOINT_URL"]
    )
    demo_key, _ = create_api_key(ApiKeyRepository(stack.resources.table_name, dynamodb), DEMO_ORG_ID)
    port_prefix = f"PORT={port} " if port != 3000 else ""
    lines = [
        f"Integration credentials API on http://127.0.0.1:{stack.port}",
        f"OpenAPI: http://127.0.0.1:{stack.port}/openapi.json  Swagger UI: http://127.0.0.1:{stack.port}/docs",
        f"Embedded AWS (moto) on {os.environ['AWS_ENDPOINT_URL']}  table={stack.resources.table_name}",
        f"Demo org {DEMO_ORG_ID}  API key: {demo_key}",
        f"More keys: {port_prefix}uv run credentials-admin api-keys create --org-id <org>",
        f"JWT HS256 secret ({'generated' if generated else 'from JWT_SECRET'}): {jwt_secret}",
        "Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
    try:
        stop.wait()
    finally:
        print("stopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
