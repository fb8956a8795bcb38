"""Each route's `responses=`: the success bodies with their headers, and every error status with
its description, the texts the service really sends and its headers."""

from collections.abc import Mapping
from typing import Any, Final, cast

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader

from ...core.constants import FORBIDDEN_DETAIL, UNAUTHORIZED_DETAIL
from .examples import CONNECT_EXAMPLE, EXAMPLE_ID, HUBSPOT_EXAMPLE, SALESFORCE_EXAMPLE

JSON: Final = "application/json"
SCHEMA_REF: Final = "#/components/schemas/"


def schema_ref(model: str) -> dict[str, str]:
    """A reference to a response body's schema, by its model's name (`models.RESPONSE_MODELS`,
    which only the document generator imports: the functions never build those models)."""
    return {"$ref": f"{SCHEMA_REF}{model}"}


def _header(description: str, schema: dict[str, Any], *, required: bool = False) -> OpenAPIResponseHeader:
    header: dict[str, Any] = {"description": description, "schema": schema}
    if required:
        header["required"] = True
    return cast(OpenAPIResponseHeader, header)


ETAG_HEADER: Final = _header(
    "Version of the credentials (strong ETag): send it as If-Match to update or delete only this version",
    {"type": "string", "pattern": r'^"[0-9]+"$'},
    required=True,
)
LINK_HEADER: Final = _header(
    'The next page, when `limit` was given and more credentials follow: `<...>; rel="next"`',
    {"type": "string"},
)
NO_STORE_RESPONSE_HEADERS: Final = {
    "Cache-Control": _header(
        "Always `no-store`: the body may carry tokens", {"const": "no-store"}, required=True
    ),
    "Pragma": _header("Always `no-cache`, for HTTP/1.0 caches", {"const": "no-cache"}, required=True),
}
RETRY_AFTER: Final = _header("Seconds to wait before retrying", {"type": "string", "pattern": "^[0-9]+$"})

ERROR_DESCRIPTIONS: Final[dict[int, str]] = {
    400: "Bad Request: the body, a parameter or the cursor is invalid (each problem is named)",
    401: "Unauthorized: no valid X-API-Key or bearer token (checked before anything else)",
    403: (
        "Forbidden: the credentials belong to a different organization, or the key or token lacks "
        "the route's scope"
    ),
    404: "Not Found",
    409: "Conflict",
    412: "Precondition Failed: If-Match names a version the credentials no longer have",
    413: "Payload Too Large: the body is over the limit (64 KiB by default)",
    415: "Unsupported Media Type: a body must be application/json",
    429: (
        "Too Many Requests: the organisation has the maximum of connect links in progress "
        "(MAX_CONNECT_STATES_PER_ORG); Retry-After says when the earliest expires"
    ),
    500: "Internal Server Error",
    502: "Bad Gateway: the provider rejected the refresh request (our OAuth client configuration)",
    503: (
        "Service Unavailable: DynamoDB, KMS or SSM (or, on refresh, the provider's token endpoint) "
        "is unavailable; nothing was written"
    ),
}
# Texts that are the same on every route; 400, 404 and 409 texts depend on the route.
COMMON_ERROR_EXAMPLES: Final[dict[int, dict[str, str]]] = {
    401: {"unauthorized": UNAUTHORIZED_DETAIL},
    403: {"forbidden": FORBIDDEN_DETAIL},
    412: {
        "stale_etag": ("Precondition failed: the credentials were modified since the ETag given in If-Match")
    },
    413: {"too_large": "Request body is 70000 bytes; the limit is 65536 bytes"},
    415: {"not_json": "Content-Type must be application/json"},
    500: {
        "unexpected": "Internal server error",
        "integrity": "Stored credentials failed an integrity check",
    },
    502: {"client_rejected": "The salesforce token endpoint rejected the refresh request (invalid_client)"},
    503: {"dependency": "Service temporarily unavailable (DynamoDB); retry later"},
}
_ERROR_HEADERS: Final[dict[int, dict[str, OpenAPIResponseHeader]]] = {
    401: {"WWW-Authenticate": _header("Always `Bearer`", {"type": "string"}, required=True)},
    409: {"Retry-After": _header("Sent when a retry can succeed (concurrent change)", {"type": "string"})},
    412: {"ETag": _header("The credentials' current version, when they still exist", {"type": "string"})},
    429: {"Retry-After": {**RETRY_AFTER, **cast(OpenAPIResponseHeader, {"required": True})}},
    503: {"Retry-After": {**RETRY_AFTER, **cast(OpenAPIResponseHeader, {"required": True})}},
}


def _examples(named: Mapping[str, Any]) -> dict[str, Any]:
    return {name: {"value": value} for name, value in named.items()}


def credentials_ok(description: str, examples: dict[str, Any] | None = None) -> OpenAPIResponse:
    """A credentials object, with its ETag; `examples` by name (default: the Salesforce one)."""
    return {
        "description": description,
        "headers": {"ETag": ETAG_HEADER, **NO_STORE_RESPONSE_HEADERS},
        "content": {
            JSON: {
                "schema": schema_ref("CredentialsOut"),
                "examples": _examples(examples or {"salesforce": SALESFORCE_EXAMPLE}),
            }
        },
    }


def credentials_list_ok(description: str) -> OpenAPIResponse:
    """A bare array of credentials objects, maybe a `Link` to the next page."""
    return {
        "description": description,
        "headers": {"Link": LINK_HEADER, **NO_STORE_RESPONSE_HEADERS},
        "content": {
            JSON: {
                # As Powertools documents a `list[...]` return value.
                "schema": {"items": schema_ref("CredentialsOut"), "title": "Return", "type": "array"},
                "examples": _examples({"two_providers": [SALESFORCE_EXAMPLE, HUBSPOT_EXAMPLE]}),
            }
        },
    }


def deleted_ok(description: str) -> OpenAPIResponse:
    """The delete confirmation."""
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": schema_ref("DeleteResult"),
                "examples": _examples(
                    {"deleted": {"message": f"Integration credentials {EXAMPLE_ID} deleted successfully"}}
                ),
            }
        },
    }


def connect_ok(description: str) -> OpenAPIResponse:
    """The authorize URL of a started connection."""
    return {
        "description": description,
        "content": {
            JSON: {
                "schema": schema_ref("ConnectStarted"),
                "examples": _examples({"salesforce": CONNECT_EXAMPLE}),
            }
        },
    }


def callback_responses() -> dict[int, OpenAPIResponse]:
    """The OAuth callback's answers: a redirect to the return URL, or a 400 when the state
    cannot be used (no redirect: nothing says where to safely)."""
    location = _header(
        "The return URL given at connect, with `credentials_id`, `provider` and `status=connected`, "
        "or with `provider` and `error` (`access_denied` and the provider's other OAuth codes, "
        "`exchange_failed`, `already_connected`, `too_many_credentials`, `credentials_not_found`, "
        "`temporarily_unavailable`), and always `connect_result`: the same outcome with the org, "
        "`end_user`, `state_hash` and the time, as a compact JWS (HS256) under the deployment's "
        "connect result key. The return page must verify it and compare `end_user` and "
        "`state_hash` with its session before trusting any of the other parameters",
        {"type": "string", "format": "uri"},
        required=True,
    )
    return {
        303: {
            "description": "See Other: back to the return URL, with the outcome in its query",
            "headers": {"Location": location},
        },
        400: error_response(
            400,
            {
                "bad_state": (
                    "Unknown, expired or already used OAuth state: start the connection again "
                    "(POST /integration-credentials/connect)"
                )
            },
        ),
        500: error_response(500),
        503: error_response(503),
    }


def error_response(status: int, examples: Mapping[str, str] | None = None) -> OpenAPIResponse:
    """An `{"detail": ...}` response with its examples (the common ones unless given)."""
    texts = dict(examples if examples is not None else COMMON_ERROR_EXAMPLES.get(status, {}))
    if not texts:
        raise ValueError(f"no example text for status {status}: give the route's texts")
    response: OpenAPIResponse = {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {
            JSON: {
                "schema": schema_ref("ErrorDetail"),
                "examples": _examples({name: {"detail": text} for name, text in texts.items()}),
            }
        },
    }
    if status in _ERROR_HEADERS:
        response["headers"] = dict(_ERROR_HEADERS[status])
    return response


def responses(
    success: tuple[int, OpenAPIResponse],
    *errors: int,
    examples: Mapping[int, Mapping[str, str]] | None = None,
) -> dict[int, OpenAPIResponse]:
    """The `responses=` of a route: its success response and each error status it can answer.

    401, 403, 500 and 503 are added to every route (authentication, scope and dependencies come
    first);
    `examples` gives the route's own texts (required for 400, 404 and 409)."""
    status, ok = success
    result: dict[int, OpenAPIResponse] = {status: ok}
    own = dict(examples or {})
    for error in sorted({*errors, 401, 403, 500, 503}):
        result[error] = error_response(error, own.get(error))
    return result
