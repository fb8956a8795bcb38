"""HTTP wiring shared by every function: the resolver, authentication before routing, and the
one place where domain errors become HTTP responses."""

import base64
import binascii
import json
import re
from collections.abc import Callable, Mapping
from typing import Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from .audit import AuditRecord, hmac_or_none
from .auth import Principal, authenticator
from .constants import FORBIDDEN_DETAIL, UNAUTHORIZED_DETAIL
from .errors import (
    AuthenticationError,
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsError,
    CredentialsIntegrityError,
    CredentialsNotFoundError,
    DependencyMisconfiguredError,
    DependencyUnavailableError,
    IdempotencyConflictError,
    InvalidRequestError,
    NotRefreshableError,
    PayloadTooLargeError,
    PermissionDeniedError,
    PreconditionFailedError,
    ProviderRejectedError,
    ProviderUnavailableError,
    ReauthorizationRequiredError,
    RefreshDeferredError,
    RefreshInProgressError,
    TooManyCredentialsError,
    UnsupportedMediaTypeError,
)
from .models import CredentialsResult
from .observability import logger, metrics, traced
from .settings import get_settings
from .validation import JsonRuleError, strict_json_loads

JSON = "application/json"
RETRY_AFTER_SECONDS = "2"
MISCONFIGURED_DETAIL = (
    "The service is misconfigured and cannot complete this request; retrying will not help "
    "until its operator fixes the deployment"
)
_PRINCIPAL = "principal"


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


def error_response(error: CredentialsError) -> Response[str]:
    """The single mapping from domain errors to HTTP statuses and `detail` bodies."""
    if isinstance(error, AuthenticationError):
        return json_response(401, {"detail": UNAUTHORIZED_DETAIL}, {"WWW-Authenticate": "Bearer"})
    if isinstance(error, PermissionDeniedError):
        return json_response(403, {"detail": FORBIDDEN_DETAIL})
    if isinstance(error, CredentialsNotFoundError):
        return json_response(404, {"detail": str(error)})
    if isinstance(error, CredentialsAlreadyExistError):
        return json_response(409, {"detail": str(error)})
    if isinstance(error, ConcurrentModificationError):
        return json_response(
            409,
            {"detail": "Integration credentials were modified concurrently; retry the request"},
            {"Retry-After": "1"},
        )
    if isinstance(error, IdempotencyConflictError):
        return json_response(409, {"detail": str(error)}, {"Retry-After": "1"})
    if isinstance(error, PreconditionFailedError):
        headers = {"ETag": error.current_etag} if error.current_etag else {}
        return json_response(412, {"detail": str(error)}, headers)
    if isinstance(error, InvalidRequestError):
        return json_response(400, {"detail": f"Validation error: {error}"})
    if isinstance(error, ReauthorizationRequiredError):
        return json_response(409, {"detail": str(error)})
    if isinstance(error, RefreshInProgressError):
        return json_response(409, {"detail": str(error)}, {"Retry-After": "1"})
    if isinstance(error, RefreshDeferredError):
        return json_response(503, {"detail": str(error)}, {"Retry-After": "1"})
    if isinstance(error, TooManyCredentialsError):
        return json_response(409, {"detail": str(error)})
    if isinstance(error, NotRefreshableError):
        # The credentials' current state (no refresh token, no refresh client) conflicts with it.
        return json_response(409, {"detail": str(error)})
    if isinstance(error, ProviderRejectedError):
        return json_response(502, {"detail": str(error)})
    if isinstance(error, ProviderUnavailableError):
        return json_response(503, {"detail": str(error)}, {"Retry-After": str(error.retry_after)})
    if isinstance(error, PayloadTooLargeError):
        return json_response(413, {"detail": str(error)})
    if isinstance(error, UnsupportedMediaTypeError):
        return json_response(415, {"detail": str(error)})
    if isinstance(error, DependencyUnavailableError):
        return json_response(
            503,
            {"detail": f"Service temporarily unavailable ({error.dependency}); retry later"},
            {"Retry-After": RETRY_AFTER_SECONDS},
        )
    if isinstance(error, DependencyMisconfiguredError):
        # Not "retry later": a deployment problem no retry fixes (the log has the AWS code).
        return json_response(500, {"detail": MISCONFIGURED_DETAIL})
    if isinstance(error, CredentialsIntegrityError):
        if error.credentials_id:
            detail = f"Stored credentials {error.credentials_id} failed an integrity check"
        else:
            detail = "Stored credentials failed an integrity check"
        return json_response(500, {"detail": detail})
    return json_response(500, {"detail": "Internal server error"})


def _log_error(error: CredentialsError) -> None:
    # Client errors are outcomes, not stack traces; messages here never hold request data.
    if isinstance(error, DependencyUnavailableError):
        logger.warning("dependency unavailable", extra={"dependency": error.dependency, "code": error.code})
        metrics.add_metric(name="DependencyUnavailable", unit=MetricUnit.Count, value=1)
    elif isinstance(error, DependencyMisconfiguredError):
        logger.error("dependency misconfigured", extra={"dependency": error.dependency, "code": error.code})
        metrics.add_metric(name="DependencyMisconfigured", unit=MetricUnit.Count, value=1)
    elif isinstance(error, CredentialsIntegrityError):
        logger.error(
            "integrity check failed", extra={"reason": str(error), "credentials_id": error.credentials_id}
        )
        metrics.add_metric(name="IntegrityError", unit=MetricUnit.Count, value=1)
    else:
        logger.info("request rejected", extra={"reason": type(error).__name__})


_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_FIELD_MESSAGES = {
    "missing": "{field} field is required",
    "string_type": "{field} must be a string",
    "string_too_short": "{field} must not be empty",
    "string_too_long": "{field} must be at most {max_length} characters",
    "string_pattern_mismatch": (
        "{field} must be a lowercase identifier (a-z first, then a-z, 0-9, '_' or '-', at most 64)"
    ),
    "dict_type": "{field} must be an object",
    "extra_forbidden": "{field} field is not allowed",
    "uuid_parsing": "{field} must be a UUID",
    "uuid_type": "{field} must be a UUID",
    "int_parsing": "{field} must be an integer",
    "int_type": "{field} must be an integer",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than_equal": "{field} must be at most {le}",
}


# Patterns that are not the provider id's, by parameter.
_PATTERN_MESSAGES = {
    "cursor": "cursor is not valid",
    "if-match": 'If-Match must be * or a list of ETags (such as "3")',
    "idempotency-key": "idempotency-key must be printable ASCII without spaces (at most 255)",
}


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One readable sentence per problem, naming the field (never echoing the input)."""
    messages: list[str] = []
    for error in errors:
        kind = str(error.get("type", ""))
        location = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
        field = location[-1] if len(location) > 1 else ""
        if field and not _FIELD_NAME.fullmatch(field):
            # Only name fields that look like fields: a key made of request data is not echoed.
            field, kind = "request body", "unknown_field" if kind == "extra_forbidden" else kind
        if kind == "json_rule":
            message = str((error.get("ctx") or {}).get("problem", "request body is invalid"))
        elif kind == "json_invalid":
            message = "request body is not valid JSON"
        elif not field or kind in {"model_attributes_type", "model_type"}:
            message = "request body must be a JSON object"
        elif kind == "unknown_field":
            message = "request body has a field that is not allowed"
        elif kind == "value_error":
            message = f"{field} must not be empty"
        elif kind == "extra_forbidden" and field == "provider":
            message = "provider cannot be changed"
        elif kind == "string_pattern_mismatch" and field in _PATTERN_MESSAGES:
            message = _PATTERN_MESSAGES[field]
        elif kind in _FIELD_MESSAGES:
            message = _FIELD_MESSAGES[kind].format(field=field, **(error.get("ctx") or {}))
        else:
            message = f"{field} is invalid"
        if message not in messages:
            messages.append(message)
    return "; ".join(messages)


def _strict_body(text: str | bytes | bytearray) -> Any:
    # Powertools' body deserializer: a body breaking a JSON rule is a 400 naming the rule.
    try:
        return strict_json_loads(text)
    except JsonRuleError as error:
        raise InvalidRequestError(str(error)) from None


def create_resolver() -> APIGatewayHttpResolver:
    """A resolver with strict JSON bodies, body validation and the error mapping installed."""
    app = APIGatewayHttpResolver(enable_validation=True, debug=False, json_body_deserializer=_strict_body)

    @app.exception_handler(RequestValidationError)  # type: ignore[untyped-decorator]
    def _invalid_request(error: RequestValidationError) -> Response[str]:
        # error.errors()[i]["input"] holds the whole body, tokens included: never log it.
        errors = list(error.errors())
        path_errors = [e for e in errors if e.get("loc", ("",))[0] == "path"]
        if path_errors and path_errors[0].get("type") in {"uuid_parsing", "uuid_type"}:
            credentials_id = (app.current_event.path_parameters or {}).get("credentials_id", "")
            return error_response(CredentialsNotFoundError(credentials_id=credentials_id))
        logger.info("request rejected", extra={"reason": "validation"})
        return json_response(400, {"detail": f"Validation error: {validation_message(errors)}"})

    @app.exception_handler(RequestUnsupportedContentType)  # type: ignore[untyped-decorator]
    def _unsupported_content_type(error: RequestUnsupportedContentType) -> Response[str]:
        return json_response(415, {"detail": "Content-Type must be application/json"})

    @app.exception_handler(CredentialsError)  # type: ignore[untyped-decorator]
    def _domain_error(error: CredentialsError) -> Response[str]:
        _log_error(error)
        return error_response(error)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected_error(error: Exception) -> Response[str]:
        # A bug, not a client error: keep the trace (our exceptions never carry request data).
        logger.exception("unhandled error")
        return json_response(500, {"detail": "Internal server error"})

    @app.not_found
    def _not_found(error: Exception) -> Response[str]:
        return json_response(404, {"detail": "Not found"})

    return app


def current_org(app: APIGatewayHttpResolver) -> str:
    """The authenticated caller's org (set by `handle_request` before routing)."""
    principal = app.context[_PRINCIPAL]
    assert isinstance(principal, Principal)
    return principal.org_id


def handle_request(
    app: APIGatewayHttpResolver,
    event: dict[str, Any],
    context: LambdaContext,
    audit: AuditRecord | None = None,
) -> dict[str, Any]:
    """Authenticate (before validation, so 401 comes before 400/404), cap the body, then route."""
    headers = event.get("headers") or {}
    try:
        principal = authenticator().authenticate(headers)
        if audit is not None:
            audit.principal = principal
        _check_body(event)
    except AuthenticationError as error:
        if audit is not None:
            audit.authentication_failed(headers)
        _log_error(error)
        return _to_event_response(error_response(error))
    except CredentialsError as error:
        _log_error(error)
        return _to_event_response(error_response(error))
    except Exception:
        logger.exception("unhandled error before routing")
        return _to_event_response(json_response(500, {"detail": "Internal server error"}))
    app.append_context(**{_PRINCIPAL: principal})  # type: ignore[no-untyped-call]
    return app.resolve(event, context)


_METHODS_WITH_BODY = frozenset({"POST", "PUT", "PATCH"})


def _check_body(event: Mapping[str, Any]) -> None:
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


def _to_event_response(response: Response[str]) -> dict[str, Any]:
    headers = {"Content-Type": JSON, **{k: str(v) for k, v in response.headers.items()}}
    return {
        "statusCode": response.status_code,
        "headers": headers,
        "body": response.body,
        "isBase64Encoded": False,
    }


_TOKEN_WRITING_ACTIONS = frozenset({"create", "update"})


def _body_access_token(event: dict[str, Any]) -> str | None:
    # Only after a successful write or refresh, so the body is known to be a JSON object.
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    token = json.loads(body).get("access_token")
    return token if isinstance(token, str) else None


LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def make_handler(app: APIGatewayHttpResolver, action: str) -> LambdaHandler:
    """The Lambda entry point of one function: logger (correlation id = API Gateway request id,
    never the event), tracer (never the response: it holds tokens) and metrics around routing."""

    @logger.inject_lambda_context(
        correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True, log_event=False
    )
    @traced
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        logger.append_keys(action=action)
        audit = AuditRecord.start(event, action)
        response = handle_request(app, event, context, audit)
        if action in _TOKEN_WRITING_ACTIONS and response.get("statusCode", 500) < 300:
            audit.extra["access_token_hmac"] = hmac_or_none(_body_access_token(event))
        elif action == "refresh" and response.get("statusCode", 500) < 300:
            # Which access token the caller now holds, by HMAC (the provider's, not in the request).
            audit.extra["access_token_hmac"] = hmac_or_none(_body_access_token(response))
        audit.emit(int(response.get("statusCode", 500)))
        metrics.add_metric(
            name=f"{action}.{response.get('statusCode', 0) // 100}xx", unit=MetricUnit.Count, value=1
        )
        return response

    return cast(LambdaHandler, lambda_handler)
