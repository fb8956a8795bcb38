"""The local HTTP API: API Gateway's routing of the template's routes to their functions (each
request an HTTP API v2.0 event), and, locally only, the OpenAPI document and its Swagger UI."""

import base64
import importlib.resources
import json
import threading
import traceback
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl

from werkzeug.serving import WSGIRequestHandler

from .events import api_gateway_event
from .lambda_runtime import FunctionPool
from .routing import select_target
from .template import routes

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
# HTTP API quota "Total combined size of request line and header values" (not adjustable).
MAX_REQUEST_LINE_AND_HEADERS_BYTES = 10240
StartResponse = Callable[..., Any]


SWAGGER_UI_PACKAGE = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
DOCS_ASSETS = {
    "/docs/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "application/javascript; charset=utf-8"),
    "/docs/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}


class GatewayRequestHandler(WSGIRequestHandler):
    """API Gateway's front door: a request line over its quota is 414, a request line and header
    values over it together are 431, and every refusal before the app is a JSON `{"message"}`
    (werkzeug and http.server would drop the connection or answer HTML). The access log names the
    method, the path and the status, never the query string: it is the caller's data (a cursor,
    or whatever a client or a fuzzer puts there)."""

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        line = len(self.raw_requestline.rstrip(b"\r\n"))
        if line > MAX_REQUEST_LINE_AND_HEADERS_BYTES:
            self.send_error(HTTPStatus.REQUEST_URI_TOO_LONG)
            return False
        values = sum(len(value.encode("latin-1", "replace")) for value in self.headers.values())
        if line + values > MAX_REQUEST_LINE_AND_HEADERS_BYTES:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE)
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """The status's phrase as API Gateway's JSON body; http.server's `message` is not logged:
        it quotes the request line."""
        phrase = _reason(code)
        body = json.dumps({"message": phrase}).encode()
        self.send_response(code, phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", "") != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(getattr(self, "path", "")).path  # unset on a malformed request
        self.log("info", '"%s %s" %s %s', getattr(self, "command", ""), path, code, size)


class ApiDocs:
    """GET /openapi.json (generated from the functions on first use) and the Swagger UI at /docs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._document: str | None = None

    def document(self) -> str:
        """openapi.json as `make openapi` writes it, from the code this stack runs."""
        with self._lock:
            if self._document is None:
                from generators.openapi import build_document, render

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
    """WSGI app: selects one of the template's routes as API Gateway does (routing.select_route)
    and invokes its function's handler."""

    def __init__(self, pools: dict[str, FunctionPool]) -> None:
        self._targets = {route.route_key: route.function for route in routes()}
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
        selected = select_target(self._targets, method, path)
        if selected is None:
            return _reply(start_response, 404, {"message": "Not Found"})
        function, match = selected
        event = api_gateway_event(environ, match.route_key, match.path_parameters, body)
        status, result = self._pools[function].invoke(event)
        if status != "ok":
            return _reply(start_response, 500, {"message": "Internal Server Error"})
        return _lambda_reply(start_response, result)


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
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
