"""The HTTP contract as OpenAPI: response bodies, error examples, headers and security schemes.

Documentation only: the routes attach `responses(...)` to their decorators and the generator
(`make openapi`, tools/generators/openapi.py) merges the six functions' documents. Nothing
here takes part in handling a request. Every error body is `{"detail": <string>}`; the examples
are the texts the service really sends (the seed's texts where the seed defines one).

Longer than 300 lines: it is the whole response contract (models, examples, headers), which a
reader compares against the seed in one place.
"""

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, cast
from uuid import UUID

from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse, OpenAPIResponseHeader
from pydantic import BaseModel, ConfigDict, Field
from pydantic.config import JsonDict

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

from ..core.constants import FORBIDDEN_DETAIL, ORG_ID_PATTERN, PROVIDER_PATTERN, UNAUTHORIZED_DETAIL

JSON: Final = "application/json"
TAG: Final = "Integration credentials"

API_KEY_SCHEME: Final = "ApiKeyAuth"
BEARER_SCHEME: Final = "BearerAuth"


def security_schemes() -> "dict[str, SecurityScheme]":
    """The document's security schemes. Built on demand: only the generator needs them, and the
    Powertools OpenAPI spec models they need would lengthen every Lambda's cold start."""
    from aws_lambda_powertools.event_handler.openapi.models import APIKey, HTTPBearer

    return {
        API_KEY_SCHEME: APIKey.model_validate(
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-API-Key",
                "description": (
                    "An API key of the caller's organisation (`sk_live_` + 40 characters), minted "
                    "with scopes (`credentials:read`, `credentials:write`, `credentials:refresh`; "
                    "all three by default)"
                ),
            }
        ),
        BEARER_SCHEME: HTTPBearer.model_validate(
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT",
                "description": (
                    "A JWT whose `org_id` claim names the caller's organisation (`exp`, `sub`, and "
                    "the deployment's `iss` and `aud` required); its `scope` claim (else `scp`), a "
                    "space-separated string or an array, limits what it may do"
                ),
            }
        ),
    }


# Either header authenticates; with both, both must be valid and name the same organisation.
SECURITY: Final[list[dict[str, list[str]]]] = [{API_KEY_SCHEME: []}, {BEARER_SCHEME: []}]


def security(scope: str) -> list[dict[str, list[str]]]:
    """A route's security requirement: either header, carrying `scope` (OpenAPI 3.1 lets a
    non-OAuth scheme list the roles it needs)."""
    return [{API_KEY_SCHEME: [scope]}, {BEARER_SCHEME: [scope]}]


EXAMPLE_ID: Final = "8e1f9722-9637-42fa-b059-a29be3b12cf9"
EXAMPLE_ORG_ID: Final = "123e4567-e89b-12d3-a456-426614174000"
SALESFORCE_EXAMPLE: Final[dict[str, Any]] = {
    "id": EXAMPLE_ID,
    "org_id": EXAMPLE_ORG_ID,
    "provider": "salesforce",
    "dsn": "https://mycompany.salesforce.com",
    "access_token": "00D5g000001234567!AQYAQ...",
    "metadata": {
        "instance_url": "https://mycompany.salesforce.com",
        "api_version": "v58.0",
        "refresh_token": "5Aep861...",
        "token_type": "Bearer",
    },
    "created_at": "2024-10-06T12:00:00.000000Z",
    "updated_at": "2024-10-06T12:00:00.000000Z",
    "status": "active",
    "expires_at": "2024-10-06T14:00:00.000000Z",
    "last_refreshed_at": None,
    "last_error": None,
}
HUBSPOT_EXAMPLE: Final[dict[str, Any]] = {
    "id": "9f2a0833-0748-43ab-a16a-b30cf4d23de0",
    "org_id": EXAMPLE_ORG_ID,
    "provider": "hubspot",
    "dsn": "https://api.hubapi.com",
    "access_token": "pat-na1-1234567890abcdef",
    "metadata": {"portal_id": "12345678", "scopes": ["contacts", "companies"]},
    "created_at": "2024-10-05T10:00:00.000000Z",
    "updated_at": "2024-10-05T10:00:00.000000Z",
    "status": "active",
    "expires_at": "2024-10-05T10:30:00.000000Z",
    "last_refreshed_at": None,
    "last_error": None,
}

# Request examples (the seed's bodies). Powertools builds request bodies from the handlers'
# signatures, so the generator adds these to the operations named here.
REQUEST_EXAMPLES: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "connectCredentials": {
        "salesforce_sandbox": {
            "summary": "Salesforce sandbox",
            "value": {
                "provider": "salesforce",
                "return_url": "https://app.example.com/crm/connected",
                "metadata": {"login_url": "https://test.salesforce.com"},
            },
        },
        "dynamics": {
            "summary": "Dynamics 365 of one tenant",
            "value": {
                "provider": "dynamics",
                "return_url": "https://app.example.com/crm/connected",
                "metadata": {
                    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "instance_url": "https://contoso.crm4.dynamics.com",
                },
            },
        },
        "reconnect": {
            "summary": "Reconnect credentials whose grant died (status reauth_required)",
            "value": {
                "provider": "hubspot",
                "return_url": "https://app.example.com/crm/connected",
                "credentials_id": EXAMPLE_ID,
            },
        },
    },
    "createCredentials": {
        "salesforce": {
            "summary": "Salesforce",
            "value": {k: SALESFORCE_EXAMPLE[k] for k in ("provider", "dsn", "access_token", "metadata")},
        },
        "hubspot": {
            "summary": "HubSpot",
            "value": {
                "provider": "hubspot",
                "dsn": "https://api.hubapi.com",
                "access_token": "pat-na1-1234567890abcdef",
                "metadata": {"portal_id": "12345678", "scopes": ["contacts", "companies", "deals"]},
            },
        },
        "pipedrive": {
            "summary": "Pipedrive",
            "value": {
                "provider": "pipedrive",
                "dsn": "https://mycompany.pipedrive.com",
                "access_token": "1a2b3c4d5e6f7g8h9i0j",
                "metadata": {"company_domain": "mycompany", "api_token": "1a2b3c4d5e6f7g8h9i0j"},
            },
        },
    },
    "updateCredentials": {
        "rotate_token": {
            "summary": "Token rotation (metadata is merged: other keys stay)",
            "value": {
                "access_token": "NEW_ACCESS_TOKEN_HERE",
                "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"},
            },
        },
    },
}


class LastError(BaseModel):
    """Why the last token refresh failed (never a token)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Provider or service error code: invalid_grant, http_503, ...")
    message: str = Field(description="Short description (at most 200 characters)")


def _no_default(schema: JsonDict) -> None:
    # Optional in the response, never filled in with a default: absent means withheld.
    schema.pop("default", None)


class CredentialsOut(BaseModel):
    """A stored credentials object, as every route returns it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SALESFORCE_EXAMPLE]})

    id: UUID = Field(description="Generated id of the credentials")
    org_id: str = Field(pattern=ORG_ID_PATTERN, description="The owning organisation (the caller's)")
    provider: str = Field(pattern=PROVIDER_PATTERN, description="CRM provider id, unique per organisation")
    dsn: str = Field(description="Data source name or connection string")
    access_token: str = Field(
        default="",
        description=(
            "Access token or API key for the CRM. Absent for a caller without `credentials:read`, "
            "unless this request sent it (create, update) or made it (refresh)"
        ),
        json_schema_extra=_no_default,
    )
    metadata: dict[str, Any] = Field(
        description=(
            "Provider-specific configuration. For a caller without `credentials:read`: only what this "
            "request sent, never a secret-named key (`refresh_token`, `client_secret`, ...)"
        )
    )
    created_at: datetime = Field(description="UTC, ISO 8601 with microseconds and Z")
    updated_at: datetime = Field(description="UTC, ISO 8601 with microseconds and Z; advances on update")
    # Token refresh (added after the seed; every response carries them).
    status: Literal["active", "refresh_failed", "reauth_required"] = Field(
        default="active",
        description=(
            "`active`; `refresh_failed` (the last refresh failed transiently, it is retried with "
            "backoff); `reauth_required` (the provider refused the grant: store new tokens with PUT)"
        ),
    )
    expires_at: datetime | None = Field(
        default=None,
        description=(
            "When the access token expires (provider's expires_in, else metadata.expires_at, else "
            "the provider's usual lifetime); refreshed ahead of it when metadata has a refresh_token"
        ),
    )
    last_refreshed_at: datetime | None = Field(default=None, description="Last successful token refresh")
    last_error: LastError | None = Field(default=None, description="Why the last refresh failed")


class ErrorDetail(BaseModel):
    """Every error body."""

    model_config = ConfigDict(extra="forbid")

    detail: str = Field(description="What went wrong, for a person to read")


class DeleteResult(BaseModel):
    """Body of a successful delete."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(
        pattern=r"^Integration credentials [0-9a-f-]{36} deleted successfully$",
        examples=[f"Integration credentials {EXAMPLE_ID} deleted successfully"],
    )


class ConnectStarted(BaseModel):
    """Body of a started connection."""

    model_config = ConfigDict(extra="forbid")

    connect_url: str = Field(
        description=(
            "The provider's authorize URL, to send the user's browser to: our callback as "
            "`redirect_uri`, a single-use `state`, and a PKCE S256 challenge where the provider supports it"
        )
    )
    expires_at: datetime = Field(description="Until when the link works (UTC); then start again")
    state_hash: str = Field(
        pattern="^[0-9a-f]{64}$",
        description=(
            "SHA-256 (hex) of the link's state: keep it in the user's session; the signed result "
            "(`connect_result`) the browser brings back to the return URL names it"
        ),
    )


CONNECT_EXAMPLE: Final[dict[str, str]] = {
    "connect_url": (
        "https://login.salesforce.com/services/oauth2/authorize?response_type=code&client_id=3MVG9..."
        "&redirect_uri=https%3A%2F%2Fapi.example.com%2Fintegration-credentials%2Foauth%2Fcallback"
        "&scope=api%20refresh_token&state=Yk3...&code_challenge=E9Mel...&code_challenge_method=S256"
    ),
    "expires_at": "2024-01-01T00:10:00.000000Z",
    "state_hash": "5d41402abc4b2a76b9719d911017c592ae7fc3b4f9c1e0ad3e1b6b0f2a4c8d1e",
}


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


def credentials_ok(description: str) -> OpenAPIResponse:
    """A credentials object, with its ETag."""
    return {
        "description": description,
        "headers": {"ETag": ETAG_HEADER, **NO_STORE_RESPONSE_HEADERS},
        "content": {
            JSON: {"model": CredentialsOut, "examples": _examples({"salesforce": SALESFORCE_EXAMPLE})}
        },
    }


def credentials_list_ok(description: str) -> OpenAPIResponse:
    """A bare array of credentials objects, maybe a `Link` to the next page."""
    return {
        "description": description,
        "headers": {"Link": LINK_HEADER, **NO_STORE_RESPONSE_HEADERS},
        "content": {
            JSON: {
                "model": list[CredentialsOut],
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
                "model": DeleteResult,
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
        "content": {JSON: {"model": ConnectStarted, "examples": _examples({"salesforce": CONNECT_EXAMPLE})}},
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
                "model": ErrorDetail,
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
