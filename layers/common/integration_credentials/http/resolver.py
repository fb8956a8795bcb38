"""The resolver every function routes with: strict JSON bodies, body validation, and the
exception handlers that turn every failure into a `{"detail": ...}` response."""

from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)

from ..adapters.audit import AuditRecord
from ..adapters.auth import Principal
from ..adapters.observability import logger
from ..core.errors import CredentialsError, CredentialsNotFoundError, InvalidRequestError
from ..core.validation import JsonRuleError, strict_json_loads
from .errors import INTERNAL_ERROR_DETAIL, error_response, log_error
from .messages import validation_message
from .responses import json_response

# Keys of `app.context`, set by `gate.handle_request` before routing.
PRINCIPAL = "principal"
AUDIT = "audit"


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
        log_error(error)
        return error_response(error)

    @app.exception_handler(Exception)  # type: ignore[untyped-decorator]
    def _unexpected_error(error: Exception) -> Response[str]:
        # A bug, not a client error: keep the trace (our exceptions never carry request data).
        logger.exception("unhandled error")
        return json_response(500, {"detail": INTERNAL_ERROR_DETAIL})

    @app.not_found
    def _not_found(error: Exception) -> Response[str]:
        return json_response(404, {"detail": "Not found"})

    return app


def current_org(app: APIGatewayHttpResolver) -> str:
    """The authenticated caller's org (set before routing)."""
    return current_principal(app).org_id


def current_principal(app: APIGatewayHttpResolver) -> Principal:
    """The authenticated caller (set before routing)."""
    principal = app.context[PRINCIPAL]
    assert isinstance(principal, Principal)
    return principal


def current_audit(app: APIGatewayHttpResolver) -> AuditRecord | None:
    """The request's audit record, for the service to name the credentials it acted on."""
    audit = app.context.get(AUDIT)
    return audit if isinstance(audit, AuditRecord) else None
