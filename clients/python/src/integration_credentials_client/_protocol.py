"""What the sync and async clients share: each route as a `Call` (method, path, body, headers,
how safe it is to repeat) and each answer decoded into a result or an exception. No I/O."""

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from .errors import ApiError, ConnectionFailed, error_for
from .retry import Safety, retry_after_seconds

BASE = "/integration-credentials"
USER_AGENT = "integration-credentials-client/0.1.0"
# The list's page size: the service's maximum.
PAGE_SIZE = 100
_NEXT_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


@dataclass(frozen=True)
class Call:
    """One request to the service, and whether it may be repeated."""

    operation: str
    method: str
    path: str
    safety: Safety
    json: Any = None
    params: Mapping[str, str | int] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


def auth_headers(api_key: str | None, token: str | None) -> dict[str, str]:
    """The service's headers: its API key or a bearer token (one of them), JSON both ways."""
    if (api_key is None) == (token is None):
        raise ValueError("give exactly one of api_key and token")
    headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
    if api_key is not None:
        headers["X-API-Key"] = api_key
    else:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def _segment(value: str) -> str:
    return quote(value, safe="")


def create_call(
    provider: str,
    dsn: str,
    access_token: str,
    metadata: Mapping[str, Any] | None,
    idempotency_key: str | None,
    verify: bool = False,
) -> Call:
    body: dict[str, Any] = {"provider": provider, "dsn": dsn, "access_token": access_token}
    if metadata is not None:
        body["metadata"] = dict(metadata)
    # Always a key: a retry after a lost answer then replays the first create, never a second one.
    key = idempotency_key or str(uuid.uuid4())
    params = {"verify": "true"} if verify else None
    return Call(
        "create", "POST", f"{BASE}/", Safety.REPEATABLE, body, params=params, headers={"Idempotency-Key": key}
    )


def get_call(credentials_id: str) -> Call:
    return Call("get", "GET", f"{BASE}/{_segment(credentials_id)}", Safety.REPEATABLE)


def get_by_provider_call(provider: str) -> Call:
    return Call("get_by_provider", "GET", f"{BASE}/provider/{_segment(provider)}", Safety.REPEATABLE)


def list_call(page_size: int, cursor: str | None) -> Call:
    params: dict[str, str | int] = {"limit": page_size}
    if cursor is not None:
        params["cursor"] = cursor
    return Call("list", "GET", f"{BASE}/", Safety.REPEATABLE, params=params)


def update_call(
    credentials_id: str,
    dsn: str | None,
    access_token: str | None,
    metadata: Mapping[str, Any] | None,
    if_match: str | None,
) -> Call:
    body: dict[str, Any] = {}
    for name, value in (("dsn", dsn), ("access_token", access_token), ("metadata", metadata)):
        if value is not None:
            body[name] = dict(value) if isinstance(value, Mapping) else value
    headers = {"If-Match": if_match} if if_match is not None else {}
    # A merge patch repeated is harmless only at the version it was meant for.
    safety = Safety.REPEATABLE if if_match is not None else Safety.NEVER
    return Call("update", "PUT", f"{BASE}/{_segment(credentials_id)}", safety, body, headers=headers)


def delete_call(credentials_id: str, if_match: str | None, revoke: bool = True) -> Call:
    headers = {"If-Match": if_match} if if_match is not None else {}
    # The service revokes by default: only keeping the grant needs saying.
    params: dict[str, str | int] | None = None if revoke else {"revoke": "false"}
    # A repeated delete whose first answer was lost would answer 404 for a success.
    return Call(
        "delete",
        "DELETE",
        f"{BASE}/{_segment(credentials_id)}",
        Safety.UNSENT_ONLY,
        params=params,
        headers=headers,
    )


def refresh_call(credentials_id: str) -> Call:
    # The service runs one refresh per credential at a time and answers a repeat with its result.
    return Call("refresh", "POST", f"{BASE}/{_segment(credentials_id)}/refresh", Safety.REPEATABLE, {})


def verify_call(credentials_id: str) -> Call:
    # A verification repeated asks the CRM again and records the same answer.
    return Call("verify", "POST", f"{BASE}/{_segment(credentials_id)}/verify", Safety.REPEATABLE, {})


def connect_call(body: Mapping[str, Any]) -> Call:
    # A repeated connect whose first answer was lost would hold a second link of the org's limit.
    return Call("connect", "POST", f"{BASE}/connect", Safety.UNSENT_ONLY, dict(body))


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content or b"null")
    except ValueError:
        return None


def error_of(response: httpx.Response) -> ApiError:
    """The exception of an error answer: the service's `detail` when the body has one (never the
    body otherwise: a proxy's page is not ours to repeat)."""
    body = _json(response)
    detail = body.get("detail") if isinstance(body, dict) else None
    if not isinstance(detail, str):
        detail = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return error_for(
        response.status_code,
        detail,
        retry_after=retry_after_seconds(response.headers.get("Retry-After")),
        etag=response.headers.get("ETag"),
    )


def connection_failed(call: Call, error: httpx.TransportError) -> ConnectionFailed:
    """A connection error as this package's exception (its text: the error's type, not its message)."""
    return ConnectionFailed(None, f"{call.operation}: no answer from the service ({type(error).__name__})")


def json_object(response: httpx.Response) -> Mapping[str, Any]:
    body = _json(response)
    if not isinstance(body, dict):
        raise ApiError(response.status_code, "the service answered something that is not a JSON object")
    return body


def json_array(response: httpx.Response) -> list[Mapping[str, Any]]:
    body = _json(response)
    if not isinstance(body, list) or not all(isinstance(item, dict) for item in body):
        raise ApiError(response.status_code, "the service answered something that is not a JSON array")
    return body


def next_cursor(response: httpx.Response) -> str | None:
    """The cursor of the next page, from the `Link: <...>; rel="next"` header (None: last page)."""
    match = _NEXT_LINK.search(response.headers.get("Link", ""))
    if match is None:
        return None
    cursors = parse_qs(urlsplit(match.group(1)).query).get("cursor")
    return cursors[0] if cursors else None


def connect_body(
    provider: str,
    return_url: str,
    *,
    scopes: Sequence[str] | None,
    optional_scopes: Sequence[str] | None,
    metadata: Mapping[str, Any] | None,
    credentials_id: str | None,
    end_user: str | None,
    allow_account_change: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"provider": provider, "return_url": return_url}
    optional = {
        "scopes": list(scopes) if scopes is not None else None,
        "optional_scopes": list(optional_scopes) if optional_scopes is not None else None,
        "metadata": dict(metadata) if metadata is not None else None,
        "credentials_id": credentials_id,
        "end_user": end_user,
    }
    body.update({name: value for name, value in optional.items() if value is not None})
    if allow_account_change:
        # Sent only when true: absent means false, and a service without account pinning takes no such field.
        body["allow_account_change"] = True
    return body
