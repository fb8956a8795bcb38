"""A threaded HTTP/1.1 server with keep-alive in front of a WSGI app.

werkzeug's server (the embedded AWS's default) answers every request with `Connection: close`, so
each AWS call also pays a TCP connect and teardown on the client side, which boto3 does not pay
against AWS. The bench measures with this one (`EmbeddedAws(keep_alive=True)`).
"""

import io
import sys
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

WsgiApp = Callable[..., Iterable[bytes]]
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "server", "date"}


class _KeepAliveHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: no 40 ms delayed-ACK stall
    app: WsgiApp

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _environ(self, body: bytes) -> dict[str, Any]:
        path, _, query = self.path.partition("?")
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": unquote(path),
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.connection.getsockname()[1]),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "CONTENT_LENGTH": str(len(body)),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            # What aws_faults.drop_connection shuts down, as under werkzeug.
            "werkzeug.socket": self.connection,
        }
        for name, value in self.headers.items():
            key = name.upper().replace("-", "_")
            if key == "CONTENT_TYPE":
                environ["CONTENT_TYPE"] = value
            elif key != "CONTENT_LENGTH":
                environ["HTTP_" + key] = value
        return environ

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            started[:] = [status, headers]
            return written.append

        try:
            returned = list(self.app(self._environ(body), start_response))
        except ConnectionResetError:  # the app dropped the connection on purpose (a fault)
            self.close_connection = True
            return
        data = b"".join(written + returned)
        status, headers = started
        code, _, reason = str(status).partition(" ")
        self.send_response(int(code), reason)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _handle  # noqa: N815 - http.server's names


class KeepAliveServer:
    """`app` served on 127.0.0.1:`port` (0: a free one) with keep-alive, in a background thread;
    the same start/stop surface as werkzeug's server."""

    def __init__(self, app: WsgiApp, port: int = 0, host: str = "127.0.0.1") -> None:
        handler = type("Handler", (_KeepAliveHandler,), {"app": staticmethod(app)})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True

    @property
    def server_port(self) -> int:
        return int(self._server.server_address[1])

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def shutdown(self) -> None:
        self._server.shutdown()

    def server_close(self) -> None:
        self._server.server_close()
