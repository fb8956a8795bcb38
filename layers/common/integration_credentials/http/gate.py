"""What happens before routing: authentication (before validation, so a 401 comes before any
400 or 404), the route's scope (a 403 before any 400), then the body gate (media type, UTF-8,
size)."""

import base64
import binascii
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver

from ..adapters.audit import AuditRecord
from ..adapters.auth import authenticator
from ..adapters.observability import logger
from ..core.errors import (
    AuthenticationError,
    CredentialsError,
    InvalidRequestError,
    PayloadTooLargeError,
    PermissionDeniedError,
    UnsupportedMediaTypeError,
)
from ..core.settings import get_settings
from .errors import INTERNAL_ERROR_DETAIL, error_response, log_error
from .resolver import AUDIT, PRINCIPAL
from .responses import JSON, json_response, to_event_response

_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext


def handle_request(
    app: APIGatewayHttpResolver,
    event: dict[str, Any],
    context: "LambdaContext",
    audit: AuditRecord | None = None,
    *,
    scope: str | None,
) -> dict[str, Any]:
    """Authenticate (before validation, so 401 comes before 400/404), require the route's scope,
    cap the body, then route. `scope` None is a route that takes no API key or token (the OAuth
    callback, which its single-use state authenticates): no principal, straight to the body gate."""
    headers = event.get("headers") or {}
    principal = None
    try:
        if scope is not None:
            principal = authenticator().authenticate(headers)
            if audit is not None:
                audit.principal = principal
        if scope is not None and principal is not None and scope not in principal.scopes:
            if audit is not None:
                audit.reason = "missing_scope"
            raise PermissionDeniedError(f"the caller's key or token lacks the scope {scope}")
        check_body(event)
    except AuthenticationError as error:
        if audit is not None:
            audit.authentication_failed(headers)
        log_error(error)
        return to_event_response(error_response(error))
    except CredentialsError as error:
        log_error(error)
        return to_event_response(error_response(error))
    except Exception:
        logger.exception("unhandled error before routing")
        return to_event_response(json_response(500, {"detail": INTERNAL_ERROR_DETAIL}))
    app.append_context(**{PRINCIPAL: principal, AUDIT: audit})  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


def check_body(event: Mapping[str, Any]) -> None:
    """A body (on the methods that take one) must be JSON in UTF-8, and within the size limit."""
    body = event.get("body")
    method = str(((event.get("requestContext") or {}).get("http") or {}).get("method", "")).upper()
    if not body or method not in _METHODS_WITH_BODY:
        return
    headers = {name.lower(): value for name, value in (event.get("headers") or {}).items()}
    media_type = str(headers.get("content-type", "")).split(";", 1)[0].strip().lower()
    if media_type and media_type != JSON:
        # Form and multipart parsers would turn a JSON text into field names (echoed back) or fail.
        raise UnsupportedMediaTypeError("Content-Type must be application/json")
    try:
        raw = base64.b64decode(body) if event.get("isBase64Encoded") else str(body).encode("utf-8")
    except (UnicodeEncodeError, binascii.Error, ValueError):
        # A lone surrogate in the event's body text has no UTF-8 form; base64 that is not base64.
        raise InvalidRequestError("request body is not valid JSON (not UTF-8)") from None
    limit = get_settings().max_body_bytes
    if len(raw) > limit:
        raise PayloadTooLargeError(f"Request body is {len(raw)} bytes; the limit is {limit} bytes")
    if event.get("isBase64Encoded"):
        # API Gateway base64-encodes bodies that are not text; JSON must be UTF-8 (RFC 8259).
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError("request body is not valid JSON (not UTF-8)") from None
