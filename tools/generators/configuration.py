"""`make configuration`: docs/configuration.md, generated from the settings model.

One row per field of `integration_credentials.core.settings.Settings`: its variable (the field's
name in upper case), type and bounds, default, the functions that need it at init (from
`ROLE_SETTINGS` and each function's role, read from its app.py: the `action` it gives the handler
factory, or the role it checks itself), what template.yaml sets it from, and the field's
description. Then the variables the functions read that are not settings (`OTHER_VARIABLES`).

`python -m generators.configuration` writes docs/configuration.md; `--check` only compares (exit 1
if stale).
"""

import ast
import sys
import types
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integration_credentials.core.settings import CONDITIONS, FIELDS, ROLE_SETTINGS, Setting, env_name
from local_stack.template import ROOT, load_template, resources_of_type

from .output import generate

OUTPUT = ROOT / "docs" / "configuration.md"
# Variables the functions read, or template.yaml gives them, that are not settings: Powertools',
# the AWS SDK's, and the local stack's and tests' overrides. `<PROVIDER>` stands for a provider's
# name in upper case.
OTHER_VARIABLES: dict[str, str] = {
    "POWERTOOLS_SERVICE_NAME": "Powertools: the service name on logs and metrics.",
    "POWERTOOLS_METRICS_NAMESPACE": "Powertools: the CloudWatch namespace of the metrics.",
    "POWERTOOLS_LOG_LEVEL": "Powertools: the log level (template parameter `LogLevel`).",
    "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "Powertools: `false`: responses carry tokens, never put on traces.",
    "POWERTOOLS_TRACE_DISABLED": "Powertools: `true` turns tracing off (the local stack and the tests).",
    "AWS_MAX_ATTEMPTS": "AWS SDK: attempts per AWS call (3 unless set).",
    "AWS_RETRY_MODE": "AWS SDK: retry mode (`standard` unless set).",
    "AWS_ENDPOINT_URL": "AWS SDK: another endpoint for every service (the local stack's embedded AWS).",
    "AUDIT_LOG_FILE": "Where audit records are appended instead of the log stream (the local stack only).",
    "OAUTH_TOKEN_URL_<PROVIDER>": "Replaces a provider's token endpoint (the fake CRMs, staging).",
    "OAUTH_AUTHORIZE_URL_<PROVIDER>": "Replaces a provider's authorize endpoint (the fake CRMs, staging).",
    "CRM_API_URL_<PROVIDER>": "Replaces the base URL of a CRM's identity call, its documented path "
    "appended (the fake CRMs, staging; [health.md](health.md)).",
    "OAUTH_REVOKE_URL_<PROVIDER>": "Replaces a provider's revocation endpoint, the whole URL "
    "(the fake CRMs, staging; [health.md](health.md)).",
}
_HEADER = """\
# Configuration

Generated from `layers/common/integration_credentials/core/settings.py` by `make configuration`
(tests/infrastructure/test_configuration_docs.py fails while this page is stale): edit the
model, not this page.

Each setting is an environment variable named after its field (`table_name`: `TABLE_NAME`); an
empty value counts as unset. **Needed at init by**: the functions that check it when they start
(`ROLE_SETTINGS`): without it, their cold start fails with an error naming the variable, before
any request. **template.yaml**: what the template sets it from (a parameter, a resource of the
stack, a value), for every function unless it names some. `make run` gives the functions what
you export (tools/local_stack/devserver.py), but never replaces a resource name a function sets
itself (`REFRESH_QUEUE_URL`, `CONNECT_STATES_TABLE_NAME`).
"""


def function_roles() -> dict[str, str]:
    """functions/<name> -> its role: the `action` its app.py gives `make_handler`, or the role
    it passes to `require_settings`."""
    roles: dict[str, str] = {}
    for resource in resources_of_type("AWS::Serverless::Function").values():
        directory = Path(resource["Properties"]["CodeUri"]).name
        tree = ast.parse((ROOT / "functions" / directory / "app.py").read_text(encoding="utf-8"))
        found = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                if node.func.id == "make_handler":
                    found |= {
                        keyword.value.value
                        for keyword in node.keywords
                        if keyword.arg == "action" and isinstance(keyword.value, ast.Constant)
                    }
                elif (
                    node.func.id == "require_settings"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    found.add(node.args[0].value)
        if len(found) != 1 or next(iter(found)) not in ROLE_SETTINGS:
            raise ValueError(f"functions/{directory}/app.py checks no single role of ROLE_SETTINGS: {found}")
        roles[directory] = str(found.pop())
    return roles


def template_environment() -> dict[str, dict[str | None, Any]]:
    """Variable -> {function directory (None: the Globals): its value in template.yaml}."""
    template = load_template()
    where: dict[str, dict[str | None, Any]] = {}
    for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
        where.setdefault(name, {})[None] = value
    for resource in resources_of_type("AWS::Serverless::Function").values():
        directory = Path(resource["Properties"]["CodeUri"]).name
        for name, value in resource["Properties"].get("Environment", {}).get("Variables", {}).items():
            where.setdefault(name, {})[directory] = value
    return where


def _source(value: Any) -> str:
    template = load_template()
    if isinstance(value, dict) and "Ref" in value:
        ref = value["Ref"]
        return f"parameter `{ref}`" if ref in template.get("Parameters", {}) else f"the stack's `{ref}`"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        attribute = value["Fn::GetAtt"]
        return f"the stack's `{attribute if isinstance(attribute, str) else '.'.join(attribute)}`"
    return f"`{value}`"


def _type(field: Setting) -> str:
    annotation = field.annotation
    args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    if isinstance(annotation, types.UnionType) and len(args) == 1:
        annotation = args[0]
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        text = " or ".join(f"`{arg}`" for arg in typing.get_args(annotation))
    elif origin is dict:
        text = "JSON object"
    elif origin is frozenset:
        text = "scopes"
    else:
        names: dict[Any, str] = {str: "text", int: "integer", float: "number"}
        text = names.get(annotation, str(annotation))
    if field.ge is not None:
        text += f", ≥ {field.ge}"
    if field.gt is not None:
        text += f", > {field.gt}"
    if field.le is not None:
        text += f", ≤ {field.le}"
    if field.min_length == 1:
        text += ", not empty"
    return text


def _default(field: Setting) -> str:
    if field.required:
        return "required"
    value = field.get_default()
    if value is None:
        return "unset"
    if isinstance(value, frozenset):
        return " ".join(f"`{item}`" for item in sorted(value))
    if isinstance(value, dict):
        return "`{}`" if not value else f"`{value}`"
    return f"`{value:g}`" if isinstance(value, float) else f"`{value}`"


def _needed_by(name: str, field: Setting, roles: dict[str, str]) -> str:
    if field.required:
        return "every function"
    functions = sorted(directory for directory, role in roles.items() if name in ROLE_SETTINGS[role])
    if not functions:
        return "—"
    text = "every function" if len(functions) == len(roles) else ", ".join(functions)
    return f"{text} ({CONDITIONS[name][0]})" if name in CONDITIONS else text


def _set_by(values: dict[str | None, Any]) -> str:
    if not values:
        return "—"
    # One entry per source, with the functions that get it (none named: the Globals, every one).
    functions: dict[str, list[str]] = {}
    for directory, value in values.items():
        functions.setdefault(_source(value), []).extend([] if directory is None else [directory])
    return "; ".join(
        f"{source} ({', '.join(sorted(names))})" if names else source for source, names in functions.items()
    )


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows() -> Iterator[str]:
    roles = function_roles()
    where = template_environment()
    yield "| variable | type | default | needed at init by | template.yaml | description |"
    yield "|---|---|---|---|---|---|"
    for name, field in FIELDS.items():
        variable = env_name(name)
        cells = (
            f"`{variable}`",
            _type(field),
            _default(field),
            _needed_by(name, field, roles),
            _set_by(where.get(variable, {})),
            field.description or "",
        )
        yield "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def render() -> str:
    """The whole page."""
    lines = [_HEADER, "## Settings", "", *_rows(), ""]
    lines += [
        "## Other variables",
        "",
        "Read by the functions or given them by template.yaml, but not settings of the model.",
        "",
        "| variable | meaning |",
        "|---|---|",
        *(f"| `{name}` | {_cell(meaning)} |" for name, meaning in OTHER_VARIABLES.items()),
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `make configuration`."""
    description = __doc__.splitlines()[0] if __doc__ else None
    return generate(description, OUTPUT, "configuration", render, argv)


if __name__ == "__main__":
    sys.exit(main())
