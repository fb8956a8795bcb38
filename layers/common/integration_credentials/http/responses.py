"""JSON responses, as the resolver returns them and as a Lambda proxy integration answers."""

import json
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.event_handler import Response

from ..core.models import CredentialsResult

JSON = "application/json"


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response[str]:
    """A JSON response (non-ASCII kept as is, as the client sent it), strict JSON: `NaN` or
    `Infinity` would raise here rather than reach a client (stored values are checked on read)."""
    return Response(
        status_code=status,
        content_type=JSON,
        body=json.dumps(payload, ensure_ascii=False, allow_nan=False),
        headers=dict(headers or {}),
    )


def credentials_response(status: int, result: CredentialsResult) -> Response[str]:
    """A credentials object with its ETag."""
    return json_response(status, result.body, {"ETag": result.etag})


def to_event_response(response: Response[str]) -> dict[str, Any]:
    """A response as the API Gateway proxy result a handler returns (answers made before routing)."""
    headers = {"Content-Type": JSON, **{k: str(v) for k, v in response.headers.items()}}
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }
