"""Requests as Lambda gets them: the handlers' modules, API Gateway events, one handler call."""

import json
import secrets
import time
import uuid
from types import ModuleType
from typing import Any

from local_stack.events import http_api_event
from local_stack.lambda_runtime import FakeLambdaContext, load_app
from local_stack.template import routes

from .common import FUNCTIONS, BenchError, Handler, Sample


def load_function(name: str) -> ModuleType:
    """A function's app.py as Lambda loads it (module globals of its own)."""
    return load_app(name, f"bench_{name}_app")


class Events:
    """API Gateway HTTP API events for the template's routes (local_stack.events builds them)."""

    def __init__(self) -> None:
        # Each function's own route (create and list also take `{proxy+}`: the seed's trailing slash).
        self._routes = {
            route.code_uri.name: route
            for route in routes()
            if route.code_uri.name in FUNCTIONS and "{proxy+}" not in route.path
        }

    def make(
        self,
        function: str,
        api_key: str,
        *,
        path: dict[str, str] | None = None,
        body: Any = None,
    ) -> dict[str, Any]:
        route = self._routes[function]
        raw = route.path
        for name, value in (path or {}).items():
            raw = raw.replace("{" + name + "}", value)
        headers = {"x-api-key": api_key, "user-agent": "bench"}
        payload = b""
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        return http_api_event(
            route.method,
            raw,
            route_key=route.route_key,
            path_parameters=dict(path) if path else None,
            headers=headers,
            body=payload,
        )


def create_body(provider: str) -> dict[str, Any]:
    """The seed's Salesforce create example, for another provider."""
    return {
        "provider": provider,
        "dsn": "https://mycompany.salesforce.com",
        "access_token": "00D5g000001234567!AQYAQ" + secrets.token_hex(16),
        "metadata": {
            "instance_url": "https://mycompany.salesforce.com",
            "api_version": "v58.0",
            "refresh_token": "5Aep861" + secrets.token_hex(8),
            "token_type": "Bearer",
        },
    }


def call(handler: Handler, function: str, event: dict[str, Any], expected: int) -> tuple[Sample, Any]:
    """Invoke one handler; CPU is the calling thread's (moto runs in another process)."""
    context = FakeLambdaContext(function_name=function, aws_request_id=str(uuid.uuid4()))
    cpu0 = time.thread_time()
    wall0 = time.perf_counter()
    response = handler(event, context)
    wall = time.perf_counter() - wall0
    cpu = time.thread_time() - cpu0
    status = response.get("statusCode")
    if status != expected:
        raise BenchError(
            f"{function} answered {status}, expected {expected}: {str(response.get('body'))[:300]}"
        )
    body = response.get("body")
    return Sample(cpu, wall), json.loads(body) if body else None
