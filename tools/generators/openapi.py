"""`make openapi`: the API's OpenAPI document, generated from the code into openapi.json.

Imports each function of template.yaml (functions/<route>/app.py; nothing runs at import but the
resolver's set-up: AWS clients are made on the first request), asks its Powertools resolver for
its OpenAPI schema, and merges the six into one document (Powertools' `OpenAPIMerge`). Then:
  - 422 responses go (and the schemas only they used): Powertools documents its own validation
    error, which the routes turn into the seed's 400 `{"detail": ...}`;
  - an optional parameter's `anyOf: [X, null]` becomes X (a parameter is absent, never null);
  - the seed's request bodies become the request examples (from `integration_credentials.http.openapi`);
  - the response bodies' schemas are added to the components (the routes name them by reference:
    `http.openapi.models`, which the functions never import);
  - every operation documents the answers API Gateway gives before any function runs: 414 and 431
    (request line, or request line and header values together, over its 10,240 bytes), with
    API Gateway's `{"message": ...}` body.
The result is written with sorted keys and an indent of 2, so the same code gives the same bytes.

`python -m generators.openapi` writes openapi.json; `--check` only compares (exit 1 if stale).
"""

import contextlib
import copy
import importlib.util
import json
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
from aws_lambda_powertools.event_handler.openapi.models import OpenAPI, Tag
from integration_credentials.core.constants import MAX_ACCESS_TOKEN_CHARS
from integration_credentials.core.settings import ROLE_SETTINGS, env_name, get_settings
from integration_credentials.http.openapi import REQUEST_EXAMPLES, SECURITY, TAG, security_schemes
from integration_credentials.http.openapi.models import RESPONSE_MODELS
from local_stack.template import ROOT, routes
from pydantic.json_schema import models_json_schema

from .output import generate

OUTPUT = ROOT / "openapi.json"
TITLE = "Integration credentials API"
DESCRIPTION = f"""\
Stores each organization's CRM credentials (Salesforce, HubSpot, Pipedrive, Zoho, Dynamics 365,
custom), encrypted under KMS, and hands them back to the jobs that sync with those CRMs.

**Authentication**: every route needs `X-API-Key: sk_live_...` or `Authorization: Bearer <JWT>`
(HS256 or RS256, with the deployment's `iss` and `aud`; the `org_id` claim names the organization).
Without valid credentials the answer is 401, before any other check. Each route needs one scope,
named in its `security`: `credentials:read`, `credentials:write` or `credentials:refresh` (a key's
scopes are set when it is minted, all three by default; a token's are its `scope` claim, else its
`scp` claim, either a space-separated string or an array, and the deployment's
`JWT_DEFAULT_SCOPES` without one); a missing scope is a 403 before the body is read. A caller
only ever sees and changes its own organization's credentials: another organization's id is a 403.

**Errors** are always `{{"detail": "<text>"}}`. A body must be `application/json` (415 otherwise)
and at most 64 KiB (413); `access_token` is at most {MAX_ACCESS_TOKEN_CHARS} characters. DynamoDB,
KMS or SSM being unavailable is a 503 with `Retry-After`, with nothing written.

**Versions**: credentials responses carry an `ETag`; `If-Match` makes an update or a delete
conditional (412 when the credentials changed since).
"""
# Nothing the modules do at import needs AWS; keep tracing off in this process all the same. Each
# checks at import that its settings name its tables and parameters: placeholders do (unset ones).
_IMPORT_ENVIRONMENT = {
    "POWERTOOLS_TRACE_DISABLED": "true",
    **{env_name(field): "openapi-placeholder" for field in ("table_name", "kms_key_arn")},
    **{env_name(field): "openapi-placeholder" for fields in ROLE_SETTINGS.values() for field in fields},
}
_SCHEMA_REF = "#/components/schemas/"


def project_version() -> str:
    """The version in pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as handle:
        return str(tomllib.load(handle)["project"]["version"])


@contextlib.contextmanager
def _import_environment() -> Iterator[None]:
    saved: dict[str, str | None] = {name: os.environ.get(name) for name in _IMPORT_ENVIRONMENT}
    for name, value in _IMPORT_ENVIRONMENT.items():
        if not os.environ.get(name):  # an empty value counts as unset
            os.environ[name] = value
    get_settings.cache_clear()
    try:
        yield
    finally:
        get_settings.cache_clear()  # the placeholders never outlive the import
        for name, previous in saved.items():
            if previous is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = previous


def _load_module(path: Path, name: str) -> ModuleType:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def function_resolvers() -> dict[str, APIGatewayHttpResolver]:
    """Function directory name -> its resolver (`app`), for every function in template.yaml."""
    code_dirs = sorted({route.code_uri for route in routes()})
    resolvers: dict[str, APIGatewayHttpResolver] = {}
    with _import_environment():
        for code_dir in code_dirs:
            module = _load_module(code_dir / "app.py", f"_openapi_function_{code_dir.name}")
            resolver = getattr(module, "app", None)
            if not isinstance(resolver, APIGatewayHttpResolver):
                raise TypeError(f"{code_dir}/app.py has no APIGatewayHttpResolver named app")
            resolvers[code_dir.name] = resolver
    return resolvers


def _check_components(schemas: list[dict[str, Any]]) -> None:
    """Two functions naming the same component must define it alike (the merge keeps the last)."""
    seen: dict[tuple[str, str], Any] = {}
    for schema in schemas:
        for kind, components in schema.get("components", {}).items():
            for name, definition in components.items():
                previous = seen.setdefault((kind, name), definition)
                if previous != definition:
                    raise ValueError(f"components.{kind}.{name} differs between functions")


def _operations(document: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for path_item in document.get("paths", {}).values():
        yield from path_item.values()


def _refs(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield item
            else:
                yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


# API Gateway's own answers (HTTP API quota: request line and header values at most 10,240 bytes in
# all); the local stack gives the same (tools/local_stack/http_api.py).
GATEWAY_RESPONSES = {
    "414": "URI Too Long: the request line is over API Gateway's 10,240 bytes (no function ran)",
    "431": "Request Header Fields Too Large: the request line and header values are over API "
    "Gateway's 10,240 bytes in all (no function ran)",
}
GATEWAY_ERROR = "GatewayError"
GATEWAY_ERROR_SCHEMA = {
    "type": "object",
    "title": GATEWAY_ERROR,
    "description": "API Gateway's own answer, before any function ran (never the service's `detail`)",
    "properties": {"message": {"type": "string"}},
    "required": ["message"],
}
GATEWAY_EXAMPLES = {"414": "Request-URI Too Long", "431": "Request Header Fields Too Large"}


def _finish(document: dict[str, Any]) -> dict[str, Any]:
    """Drop Powertools' 422 (never sent), add the request examples; check operation ids."""
    document = copy.deepcopy(document)
    operation_ids = []
    for operation in _operations(document):
        operation["responses"].pop("422", None)
        for status, description in GATEWAY_RESPONSES.items():
            operation["responses"][status] = {
                "description": description,
                "content": {
                    "application/json": {
                        "schema": {"$ref": _SCHEMA_REF + GATEWAY_ERROR},
                        "examples": {"gateway": {"value": {"message": GATEWAY_EXAMPLES[status]}}},
                    }
                },
            }
        for status, response in operation["responses"].items():
            if status.startswith("3"):
                # A redirect has no body (Powertools documents the handler's return type).
                response.pop("content", None)
        if operation.get("security") == [{}]:
            # The route takes no API key or token (`security=[{}]` on the route): none at all.
            operation["security"] = []
        for parameter in operation.get("parameters", []):
            if not parameter.get("required"):
                parameter["schema"] = _without_null(parameter["schema"])
        operation_ids.append(operation["operationId"])
        examples = REQUEST_EXAMPLES.get(operation["operationId"])
        if examples:
            operation["requestBody"]["content"]["application/json"]["examples"] = copy.deepcopy(examples)
    if len(set(operation_ids)) != len(operation_ids):
        raise ValueError(f"duplicate operationId in {sorted(operation_ids)}")
    unknown = set(REQUEST_EXAMPLES) - set(operation_ids)
    if unknown:
        raise ValueError(f"request examples for unknown operations: {sorted(unknown)}")
    document.setdefault("components", {}).setdefault("schemas", {})[GATEWAY_ERROR] = copy.deepcopy(
        GATEWAY_ERROR_SCHEMA
    )
    _prune_schemas(document)
    bounded: dict[str, Any] = _integral_bounds(document)
    return bounded


def _integral_bounds(value: Any) -> Any:
    """`maximum: 100.0` (pydantic's bounds of an int parameter) written as `100`."""
    if isinstance(value, dict):
        fixed = {key: _integral_bounds(item) for key, item in value.items()}
        if fixed.get("type") == "integer":
            for key in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
                if isinstance(fixed.get(key), float) and fixed[key].is_integer():
                    fixed[key] = int(fixed[key])
        return fixed
    if isinstance(value, list):
        return [_integral_bounds(item) for item in value]
    return value


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`X | None = None` is an optional parameter: absent, never null (the wire has no null)."""
    branches = schema.get("anyOf", [])
    others = [branch for branch in branches if branch != {"type": "null"}]
    if len(branches) != 2 or len(others) != 1:
        return schema
    return {**{key: value for key, value in schema.items() if key != "anyOf"}, **others[0]}


def _prune_schemas(document: dict[str, Any]) -> None:
    """Keep the component schemas the operations use (directly or through other schemas)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    wanted: set[str] = set()
    pending = [ref for ref in _refs(document.get("paths", {}))]
    while pending:
        ref = pending.pop()
        if not ref.startswith(_SCHEMA_REF):
            raise ValueError(f"unexpected reference {ref}")
        name = ref.removeprefix(_SCHEMA_REF)
        if name not in schemas:
            raise ValueError(f"unresolved reference {ref}")
        if name not in wanted:
            wanted.add(name)
            pending.extend(_refs(schemas[name]))
    for name in set(schemas) - wanted:
        del schemas[name]


def _without_null_defaults(schema: Any) -> Any:
    # Powertools dumps its schemas without None values: a `default` of null is left out.
    if isinstance(schema, dict):
        return {
            key: value if key in ("examples", "example") else _without_null_defaults(value)
            for key, value in schema.items()
            if not (key == "default" and value is None)
        }
    if isinstance(schema, list):
        return [_without_null_defaults(item) for item in schema]
    return schema


def response_schemas() -> dict[str, Any]:
    """The response bodies' schemas (and those of the models they hold), as Powertools documents
    a response model: in serialization mode, referring to each other under the components."""
    _, definitions = models_json_schema(
        [(model, "serialization") for model in RESPONSE_MODELS], ref_template=_SCHEMA_REF + "{model}"
    )
    return {name: _without_null_defaults(schema) for name, schema in definitions.get("$defs", {}).items()}


def build_document() -> dict[str, Any]:
    """The merged OpenAPI document, as plain JSON data."""
    schemas = [
        json.loads(resolver.get_openapi_json_schema(security_schemes=security_schemes()))
        for resolver in function_resolvers().values()
    ]
    _check_components(schemas)
    schemas.append({"components": {"schemas": response_schemas()}})
    merge = OpenAPIMerge(
        title=TITLE,
        version=project_version(),
        description=DESCRIPTION,
        security=SECURITY,
        tags=[Tag(name=TAG, description="Stored CRM credentials of the caller's organization")],
        on_conflict="error",
    )
    for schema in schemas:
        merge.add_schema(schema)
    document = _finish(merge.get_openapi_schema())
    OpenAPI.model_validate(document)  # a well-formed OpenAPI document, or this raises
    # A JSON round trip leaves only JSON types (the merge's tags are dumped pydantic models).
    data: dict[str, Any] = json.loads(json.dumps(document))
    return data


def render(document: dict[str, Any]) -> str:
    """The bytes of openapi.json: sorted keys, indent 2, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make openapi`."""
    description = __doc__.splitlines()[0] if __doc__ else None
    return generate(description, OUTPUT, "openapi", lambda: render(build_document()), argv)


if __name__ == "__main__":
    sys.exit(main())
