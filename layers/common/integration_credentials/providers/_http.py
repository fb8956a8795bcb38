"""One POST to a token endpoint with the standard library, and the parsing every provider shares."""

import base64
import email.utils
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import TransientRefreshError

MAX_RESPONSE_BYTES = 65_536
MAX_MESSAGE_CHARS = 200
_REDACTED = "[redacted]"
# Runs of token alphabet at least 20 long that contain a digit: access and refresh tokens,
# secrets, JWTs, trace ids. Plain words and provider error codes are shorter or have no digit.
_TOKEN_LIKE = re.compile(r"[A-Za-z0-9._~+/=!*%:-]{20,}")
_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


@dataclass(frozen=True, slots=True)
class TokenRequest:
    """What one provider sends: form body or query parameters, optional HTTP Basic."""

    url: str
    form: dict[str, str] | None = field(default=None, repr=False)
    query: dict[str, str] | None = field(default=None, repr=False)
    basic_auth: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class TokenResponse:
    """Status, headers that matter and the decoded JSON object (None when not a JSON object)."""

    status: int
    body: dict[str, Any] | None
    retry_after: float | None


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A token request carries secrets: never replay it to another location.
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: Any,
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


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
    """POST the request; HTTP error statuses are returned, transport failures raised as transient."""
    scheme = urllib.parse.urlsplit(request.url).scheme.lower()
    if scheme not in ("https", "http"):
        raise ValueError("token URL must be http or https")
    url = request.url
    if request.query:
        separator = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{separator}{urllib.parse.urlencode(request.query)}"
    headers = {"Accept": "application/json"}
    data = b""
    if request.form is not None:
        data = urllib.parse.urlencode(request.form).encode("ascii")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if request.basic_auth is not None:
        user, password = request.basic_auth
        pair = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    http_request = urllib.request.Request(url, data=data, headers=headers, method="POST")  # noqa: S310
    try:
        with _OPENER.open(http_request, timeout=timeout) as response:
            status = int(response.status)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raw = response.read(MAX_RESPONSE_BYTES + 1)
    except urllib.error.HTTPError as error:
        status = error.code
        retry_after = parse_retry_after(error.headers.get("Retry-After") if error.headers else None)
        try:
            raw = error.read(MAX_RESPONSE_BYTES + 1)
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            error.close()
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError | socket.timeout):
            raise TransientRefreshError("timeout", "token endpoint timed out") from None
        raise TransientRefreshError("connection_error", "could not reach the token endpoint") from None
    except TimeoutError:
        raise TransientRefreshError("timeout", "token endpoint timed out") from None
    except (OSError, http.client.HTTPException):
        raise TransientRefreshError("connection_error", "token endpoint connection failed") from None
    return TokenResponse(status=status, body=_json_object(raw), retry_after=retry_after)


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
