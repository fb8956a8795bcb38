"""The document's security: the two ways to authenticate, and each route's scope."""

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from aws_lambda_powertools.event_handler.openapi.models import SecurityScheme

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
