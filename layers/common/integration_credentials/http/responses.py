"""JSON responses, as the resolver returns them and as a Lambda proxy integration answers."""

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from ..adapters.audit import AuditRecord
from ..adapters.auth import Principal
from ..core.constants import SCOPE_READ
from ..core.models import CredentialsResult
from ..policy.disclosure import DISCLOSED_ECHO, DISCLOSED_NONE, DISCLOSED_SECRETS, restricted_view

JSON = "application/json"
# Every API response: a body may carry tokens, and no cache or proxy may keep it (Pragma for
# HTTP/1.0 caches).
NO_STORE_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
# What json.dumps(payload, ensure_ascii=False, allow_nan=False) builds on every call, built once.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    """A JSON response (non-ASCII kept as is, as the client sent it), strict JSON: `NaN` or
    `Infinity` would raise here rather than reach a client (stored values are checked on read)."""
    return Response(
        status_code=status,
        content_type=JSON,
        body=_ENCODER.encode(payload),
        headers={**NO_STORE_HEADERS, **(headers or {})},
    )


def credentials_response(
    status: int,
    result: CredentialsResult,
    caller: Principal,
    audit: AuditRecord | None,
    *,
    sent_access_token: bool = False,
    sent_metadata: dict[str, Any] | None = None,
    new_access_token: bool = False,
    echo: bool = False,
) -> Response[str]:
    """A credentials object with its ETag, as much of it as `caller` may see: all of it with
    `credentials:read`, else `policy.disclosure.restricted_view` of what this request sent
    (`sent_*`) or made (`new_access_token`). `echo`: the whole object is what the request sent
    (a create). The audit record says how much the response disclosed."""
    if SCOPE_READ in caller.scopes:
        body, disclosed = result.body, DISCLOSED_ECHO if echo else DISCLOSED_SECRETS
    else:
        body = restricted_view(
            result.body,
            sent_access_token=sent_access_token,
            sent_metadata=sent_metadata,
            new_access_token=new_access_token,
        )
        disclosed = (
            DISCLOSED_SECRETS
            if new_access_token
            else DISCLOSED_ECHO
            if sent_access_token or body.get("metadata")
            else DISCLOSED_NONE
        )
    if audit is not None:
        audit.extra["disclosed"] = disclosed
    return json_response(status, body, {"ETag": result.etag})


def non_secret_response(status: int, result: CredentialsResult, audit: AuditRecord | None) -> Response[str]:
    """The credentials' non-secret fields (`policy.disclosure.NON_SECRET_FIELDS`) with their ETag,
    whatever the caller may read: what a check of the credentials answers."""
    if audit is not None:
        audit.extra["disclosed"] = DISCLOSED_NONE
    return json_response(status, restricted_view(result.body), {"ETag": result.etag})


def to_event_response(response: Response[str]) -> dict[str, Any]:
    """A response as the API Gateway proxy result a handler returns (answers made before routing)."""
    headers = {"Content-Type": JSON, **{k: str(v) for k, v in response.headers.items()}}
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }
