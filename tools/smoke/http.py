"""HTTP to the API, standard library only: one base URL, redirects never followed.

The one HTTP client of the smoke suite and the end-to-end tests (tests/e2e's `Api` wraps it)."""

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from .errors import CheckFailedError, SetupError

USER_AGENT = "credentials-smoke/1"
HTTP_TIMEOUT_SECONDS = 30.0
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Reply:
    """An answer; its repr shows no header or body (they can hold tokens)."""

    method: str
    path: str
    status: int
    headers: Message = field(repr=False)
    body: bytes = field(repr=False)

    @property
    def what(self) -> str:
        return f"{self.method} {self.path.partition('?')[0]}"

    # The names `requests` gives these, so a test reads a reply the way it reads any response.
    @property
    def status_code(self) -> int:
        return self.status

    @property
    def content(self) -> bytes:
        return self.body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

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


class _OnlyTheCallersContentType(urllib.request.BaseHandler):
    """urllib labels every body it sends as a form; the API sees only the Content-Type the caller
    set (a test of a missing Content-Type sends none)."""

    handler_order = 1000  # after urllib's own request preparation

    def http_request(self, request: urllib.request.Request) -> urllib.request.Request:
        if "Content-type" not in request.headers:
            request.unredirected_hdrs.pop("Content-type", None)
        return request

    https_request = http_request


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class Http:
    """Requests to one base URL with one API key (or none); its repr shows no key."""

    def __repr__(self) -> str:
        return f"Http({self.base_url!r})"

    def __init__(self, base_url: str, api_key: str | None, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in {"http", "https"}:
            raise SetupError(f"the base URL must be http(s)://..., not {scheme or 'a bare host'}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects(), _OnlyTheCallersContentType()]
        if is_loopback(base_url):
            handlers.append(urllib.request.ProxyHandler({}))  # a shell's HTTP_PROXY is not for loopback
        self._opener = urllib.request.build_opener(*handlers)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        headers: Mapping[str, str] | None = None,
        data: str | bytes | None = None,
    ) -> Reply:
        """`body` is sent as JSON; `data` as it is (with only the Content-Type in `headers`).
        `headers` add to (or replace) the client's User-Agent, Accept and X-API-Key."""
        sent = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key is not None:
            sent["X-API-Key"] = self.api_key
        given = {name.lower() for name in headers or {}}
        if body is not None:
            data = json.dumps(body)
            if "content-type" not in given:
                sent["Content-Type"] = "application/json"
        sent = {name: value for name, value in sent.items() if name.lower() not in given}
        sent.update(headers or {})
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.base_url + path,
            data=data.encode() if isinstance(data, str) else data,
            headers=sent,
            method=method,
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Reply(method, path, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(method, path, error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            what = f"{method} {path.partition('?')[0]}"
            raise CheckFailedError(f"{what}: no answer from {self.base_url} ({reason})") from None

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Reply:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Reply:
        return self.request("DELETE", path)
