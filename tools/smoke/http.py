"""HTTP to the API, standard library only: one base URL, one API key, redirects never followed."""

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any

from .errors import CheckFailedError, SetupError

USER_AGENT = "credentials-smoke/1"
HTTP_TIMEOUT_SECONDS = 30.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status: int
    headers: Message
    body: bytes

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailedError(f"{self.what}: {self.status} with a body that is not JSON") from None

    def detail_note(self) -> str:
        """` (detail: '...')` for an error body: error texts hold no secret, other bodies might."""
        try:
            payload = json.loads(self.body)
        except ValueError:
            return ""
        if isinstance(payload, dict) and isinstance(payload.get("detail"), str):
            return f" (detail: {payload['detail'][:200]!r})"
        return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to check, never followed: it would carry X-API-Key elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class Http:
    """Requests to one base URL with one API key (or none)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in {"http", "https"}:
            raise SetupError(f"the base URL must be http(s)://..., not {scheme or 'a bare host'}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if is_loopback(base_url):
            handlers.append(urllib.request.ProxyHandler({}))  # a shell's HTTP_PROXY is not for loopback
        self._opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key is not None:
            headers["X-API-Key"] = self.api_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Reply(method, path, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(method, path, error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailedError(f"{method} {path}: no answer from {self.base_url} ({reason})") from None

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Reply:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Reply:
        return self.request("DELETE", path)
