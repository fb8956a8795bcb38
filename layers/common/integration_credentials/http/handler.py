"""The Lambda entry point of one API function: Logger, Tracer and Metrics around the gate and
the resolver, and the request's audit record."""

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.metrics import MetricUnit

from ..adapters.audit import AuditRecord, hmac_or_none
from ..adapters.budget import time_budget
from ..adapters.observability import logger, metrics, traced
from ..adapters.snapstart import register_hooks
from ..core.settings import require_settings
from .gate import handle_request

if TYPE_CHECKING:
    # A type only: its module is not otherwise loaded at init.
    from aws_lambda_powertools.utilities.typing import LambdaContext

_TOKEN_WRITING_ACTIONS = frozenset({"create", "update"})

LambdaHandler = Callable[[dict[str, Any], "LambdaContext"], dict[str, Any]]


def _body_access_token(event: dict[str, Any]) -> str | None:
    # Only after a successful write or refresh, so the body is known to be a JSON object.
    body = event.get("body") or "{}"
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    token = json.loads(body).get("access_token")
    return token if isinstance(token, str) else None


def _request_id(event: dict[str, Any]) -> str | None:
    # What Powertools' correlation_paths.API_GATEWAY_HTTP selects, read directly: its JMESPath
    # query was about 3% of a warm read's CPU outside the AWS calls.
    context = event.get("requestContext")
    request_id = context.get("requestId") if isinstance(context, dict) else None
    return request_id if isinstance(request_id, str) else None


def make_handler(app: APIGatewayHttpResolver, action: str, *, scope: str | None) -> LambdaHandler:
    """The Lambda entry point of one function: logger (correlation id = API Gateway request id,
    never the event), tracer (never the response: it holds tokens) and metrics around routing.
    Callers without `scope` are refused (403) before anything else is checked; `scope` None is
    the one route without an API key (the OAuth callback). Every AWS call of the invocation ends
    within its time budget (`adapters.budget`: the context's remaining time less a margin), so a
    slow dependency is answered with our 503 before Lambda's Timeout. Registers the SnapStart
    runtime hooks (`adapters.snapstart`), so every API function has them. Checks at init the
    settings the action needs (`core.settings.ROLE_SETTINGS`): a missing table or parameter name
    fails the cold start, naming the variable, not the first request."""
    require_settings(action)
    register_hooks()

    @logger.inject_lambda_context(clear_state=True, log_event=False)
    @traced
    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: "LambdaContext") -> dict[str, Any]:
        logger.set_correlation_id(_request_id(event))
        logger.append_keys(action=action)
        audit = AuditRecord.start(event, action)
        with time_budget(context):
            response = handle_request(app, event, context, audit, scope=scope)
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
