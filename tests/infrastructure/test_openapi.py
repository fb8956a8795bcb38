"""openapi.json: generated from the code (`make openapi`), committed, and complete for the seed.

The document is built the way `make openapi` builds it (importing the six functions), so these
tests also check that the committed copy is the generated one.
"""

import difflib
from typing import Any

import jsonschema_rs
import pytest
from generators.openapi import OUTPUT, build_document, project_version, render
from integration_credentials.core.constants import FORBIDDEN_DETAIL, UNAUTHORIZED_DETAIL

BASE = "/integration-credentials/"
BY_PROVIDER = "/integration-credentials/provider/{provider}"
BY_ID = "/integration-credentials/{credentials_id}"
REFRESH = "/integration-credentials/{credentials_id}/refresh"
VERIFY = "/integration-credentials/{credentials_id}/verify"
CONNECT = "/integration-credentials/connect"
CALLBACK = "/integration-credentials/oauth/callback"

# Every status each route can answer (the service's behaviour, documented; nothing else).
STATUSES = {
    # 502 and 503 of the CRM too, with ?verify=true.
    ("post", BASE): {201, 400, 401, 403, 409, 413, 415, 500, 502, 503},
    ("get", BASE): {200, 400, 401, 403, 500, 503},
    ("get", BY_PROVIDER): {200, 400, 401, 403, 404, 500, 503},
    ("get", BY_ID): {200, 401, 403, 404, 500, 503},
    ("put", BY_ID): {200, 400, 401, 403, 404, 409, 412, 413, 415, 500, 503},
    ("delete", BY_ID): {200, 400, 401, 403, 404, 412, 500, 503},
    ("post", REFRESH): {200, 401, 403, 404, 409, 500, 502, 503},
    # 502: a refresh on the way whose OAuth client the provider rejects.
    ("post", VERIFY): {200, 401, 403, 404, 409, 500, 502, 503},
    ("post", CONNECT): {201, 400, 401, 403, 404, 409, 413, 415, 429, 500, 503},
    # No API key: a redirect, or 400 for a state that cannot be used.
    ("get", CALLBACK): {303, 400, 500, 503},
}
# What the seed documents say per route: status -> its error text (None: a success body).
SEED = {
    ("post", BASE): {
        201: None,
        400: "Validation error: provider field is required",
        401: UNAUTHORIZED_DETAIL,
        409: "Integration credentials for provider 'salesforce' already exist",
    },
    ("get", BASE): {200: None, 401: UNAUTHORIZED_DETAIL},
    ("get", BY_PROVIDER): {
        200: None,
        401: UNAUTHORIZED_DETAIL,
        404: "Integration credentials for provider 'salesforce' not found",
    },
    ("get", BY_ID): {200: None, 401: UNAUTHORIZED_DETAIL, 403: FORBIDDEN_DETAIL},
    ("put", BY_ID): {200: None, 401: UNAUTHORIZED_DETAIL, 403: FORBIDDEN_DETAIL},
    ("delete", BY_ID): {200: None, 401: UNAUTHORIZED_DETAIL, 403: FORBIDDEN_DETAIL},
}
CREDENTIALS_FIELDS = {
    "id",
    "org_id",
    "provider",
    "dsn",
    "access_token",
    "metadata",
    "created_at",
    "updated_at",
}
SEED_CREDENTIALS_FIELDS = set(CREDENTIALS_FIELDS)
CREDENTIALS_FIELDS |= {"status", "expires_at", "last_refreshed_at", "last_error", "account", "verified_at"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return build_document()


def operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    result: dict[str, Any] = document["paths"][path][method]
    return result


def json_content(response: dict[str, Any]) -> dict[str, Any]:
    assert set(response["content"]) == {"application/json"}
    content: dict[str, Any] = response["content"]["application/json"]
    return content


def validator(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema validator for a schema of the document (its $refs resolved in the document)."""
    return jsonschema_rs.validator_for(
        {**schema, "components": document["components"]}, validate_formats=True
    )


def test_committed_openapi_json_is_the_generated_one(document: dict[str, Any]) -> None:
    generated = render(document)
    committed = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    if committed != generated:
        diff = difflib.unified_diff(
            committed.splitlines(keepends=True),
            generated.splitlines(keepends=True),
            "openapi.json (committed)",
            "openapi.json (generated from the code)",
        )
        pytest.fail("openapi.json is stale: run make openapi\n" + "".join(list(diff)[:80]))


def test_generation_is_deterministic(document: dict[str, Any]) -> None:
    assert render(build_document()) == render(document)


def test_document_header(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    assert document["info"]["title"] == "Integration credentials API"
    assert document["info"]["version"] == project_version()


def test_paths_are_the_seeds_spelling_only(document: dict[str, Any]) -> None:
    operations = {(method, path) for path, item in document["paths"].items() for method in item}
    assert operations == set(STATUSES)
    assert "/integration-credentials" not in document["paths"]  # the second spelling is not documented


@pytest.mark.parametrize(("method", "path"), sorted(STATUSES))
def test_each_route_documents_exactly_its_statuses(document: dict[str, Any], method: str, path: str) -> None:
    documented = {int(status) for status in operation(document, method, path)["responses"]}
    # Its function's statuses, and API Gateway's own for an oversized request line or headers
    assert documented == STATUSES[(method, path)] | {414, 431}


@pytest.mark.parametrize(("method", "path"), sorted(SEED))
def test_every_seed_status_and_error_text_is_documented(
    document: dict[str, Any], method: str, path: str
) -> None:
    responses = operation(document, method, path)["responses"]
    for status, text in SEED[(method, path)].items():
        assert str(status) in responses, f"{method.upper()} {path}: no {status}"
        if text is not None:
            examples = json_content(responses[str(status)])["examples"].values()
            assert {"detail": text} in [example["value"] for example in examples], (method, path, status)


def test_every_error_body_is_a_detail_string(document: dict[str, Any]) -> None:
    for path, item in document["paths"].items():
        for method, op in item.items():
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    content = json_content(response)
                    # API Gateway's 414 and 431 come before any function: its `message` body
                    schema = "GatewayError" if status in ("414", "431") else "ErrorDetail"
                    assert content["schema"] == {"$ref": f"#/components/schemas/{schema}"}, (method, path)
                    assert content["examples"], (method, path, status)
    error = document["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["detail"]
    assert error["properties"]["detail"]["type"] == "string"
    assert error["additionalProperties"] is False


def test_no_powertools_422(document: dict[str, Any]) -> None:
    # Powertools documents its own 422; the routes answer the seed's 400 instead.
    for item in document["paths"].values():
        for op in item.values():
            assert "422" not in op["responses"]
    assert set(document["components"]["schemas"]) == {
        "Account",
        "ConnectRequest",
        "ConnectStarted",
        "CredentialsCreate",
        "CredentialsOut",
        "CredentialsUpdate",
        "DeleteResult",
        "ErrorDetail",
        "GatewayError",
        "LastError",
    }


def test_success_bodies(document: dict[str, Any]) -> None:
    credentials = {"$ref": "#/components/schemas/CredentialsOut"}
    assert json_content(operation(document, "post", BASE)["responses"]["201"])["schema"] == credentials
    for method, path in (("get", BY_PROVIDER), ("get", BY_ID), ("put", BY_ID), ("post", REFRESH)):
        assert json_content(operation(document, method, path)["responses"]["200"])["schema"] == credentials
    listed = json_content(operation(document, "get", BASE)["responses"]["200"])["schema"]
    assert listed["type"] == "array"
    assert listed["items"] == credentials
    deleted = json_content(operation(document, "delete", BY_ID)["responses"]["200"])["schema"]
    assert deleted == {"$ref": "#/components/schemas/DeleteResult"}

    model = document["components"]["schemas"]["CredentialsOut"]
    # The refresh fields are optional (added after the seed), the seed's are required but
    # access_token, which a caller without credentials:read gets only when it sent or refreshed it.
    assert set(model["required"]) == SEED_CREDENTIALS_FIELDS - {"access_token"}
    assert "credentials:read" in model["properties"]["access_token"]["description"]
    for method, path in (("get", BY_ID), ("put", BY_ID), ("post", REFRESH), ("get", BASE)):
        status = "200"
        headers = operation(document, method, path)["responses"][status]["headers"]
        assert headers["Cache-Control"]["schema"] == {"const": "no-store"}
    assert set(model["properties"]) == CREDENTIALS_FIELDS
    assert model["additionalProperties"] is False
    assert model["properties"]["id"]["format"] == "uuid"
    assert model["properties"]["metadata"]["type"] == "object"
    for name in ("created_at", "updated_at"):
        assert model["properties"][name]["format"] == "date-time"


def test_response_headers(document: dict[str, Any]) -> None:
    for method, path, status in (
        ("post", BASE, "201"),
        ("get", BY_PROVIDER, "200"),
        ("get", BY_ID, "200"),
        ("put", BY_ID, "200"),
    ):
        assert operation(document, method, path)["responses"][status]["headers"]["ETag"]["required"] is True
    assert "Link" in operation(document, "get", BASE)["responses"]["200"]["headers"]
    for path, item in document["paths"].items():
        for method, op in item.items():
            assert op["responses"]["503"]["headers"]["Retry-After"]["required"] is True, (method, path)


def test_parameters(document: dict[str, Any]) -> None:
    def parameters(method: str, path: str) -> dict[tuple[str, str], dict[str, Any]]:
        return {
            (p["in"], p["name"].lower()): p for p in operation(document, method, path).get("parameters", [])
        }

    create = parameters("post", BASE)
    assert set(create) == {("header", "idempotency-key"), ("query", "verify")}
    assert create[("header", "idempotency-key")]["required"] is False
    assert create[("query", "verify")]["required"] is False
    assert create[("query", "verify")]["schema"]["pattern"] == "^(true|false)$"
    assert set(parameters("post", VERIFY)) == {("path", "credentials_id")}
    listing = parameters("get", BASE)
    assert set(listing) == {("query", "limit"), ("query", "cursor")}
    limit = listing[("query", "limit")]["schema"]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100)
    assert parameters("get", BY_PROVIDER)[("path", "provider")]["schema"]["pattern"]
    assert parameters("get", BY_ID)[("path", "credentials_id")]["schema"]["format"] == "uuid"
    assert set(parameters("put", BY_ID)) == {("path", "credentials_id"), ("header", "if-match")}
    deleting = parameters("delete", BY_ID)
    assert set(deleting) == {("path", "credentials_id"), ("header", "if-match"), ("query", "revoke")}
    revoke = deleting[("query", "revoke")]
    assert revoke["required"] is False
    assert "false" in revoke["description"]
    assert revoke["schema"]["pattern"] == "^(true|false)$"


def test_security_schemes_and_requirements(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKeyAuth"] | {"description": None} == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": None,
    }
    assert (schemes["BearerAuth"]["type"], schemes["BearerAuth"]["scheme"]) == ("http", "bearer")
    assert schemes["BearerAuth"]["bearerFormat"] == "JWT"
    assert document["security"] == [{"ApiKeyAuth": []}, {"BearerAuth": []}]


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            bodies = [op["requestBody"]] if "requestBody" in op else []
            for container in [*bodies, *op["responses"].values()]:
                if "content" not in container:
                    continue  # a redirect
                content = json_content(container)
                check = validator(document, content["schema"])
                for name, example in content.get("examples", {}).items():
                    errors = [error.message for error in check.iter_errors(example["value"])]
                    assert not errors, (method, path, name, errors)
                    checked += 1
    assert checked > 40


def test_request_bodies_have_the_seed_examples(document: dict[str, Any]) -> None:
    create = json_content(operation(document, "post", BASE)["requestBody"])["examples"]
    assert {example["value"]["provider"] for example in create.values()} == {
        "salesforce",
        "hubspot",
        "pipedrive",
    }
    update = json_content(operation(document, "put", BY_ID)["requestBody"])
    assert [example["value"] for example in update["examples"].values()] == [
        {"access_token": "NEW_ACCESS_TOKEN_HERE", "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"}}
    ]
    schema = document["components"]["schemas"]["CredentialsUpdate"]
    assert schema["minProperties"] == 1
    assert all("anyOf" not in field for field in schema["properties"].values())  # null is not accepted
