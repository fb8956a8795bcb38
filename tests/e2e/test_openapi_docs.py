"""The local stack serves the generated OpenAPI document and a Swagger UI that needs no network."""

import importlib.resources
import json
import re

import requests

from tests.e2e.conftest import HTTP_TIMEOUT_SECONDS, ROOT, RunningStack

SWAGGER_UI = "aws_lambda_powertools.event_handler.openapi.swagger_ui"


def get(stack: RunningStack, path: str) -> requests.Response:
    # No X-API-Key, no Authorization: the documentation is public (locally).
    return requests.get(stack.base_url + path, timeout=HTTP_TIMEOUT_SECONDS)


def test_openapi_json_is_the_generated_document(stack: RunningStack) -> None:
    response = get(stack, "/openapi.json")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/json"
    committed = (ROOT / "openapi.json").read_text(encoding="utf-8")
    # The same bytes as `make openapi` writes (tests/infrastructure/test_openapi.py keeps the committed copy fresh).
    assert response.text == committed
    document = response.json()
    assert document["info"]["title"] == "Integration credentials API"
    assert "/integration-credentials/" in document["paths"]
    # The page's own link to its document.
    assert get(stack, "/docs?format=json").text == committed


def test_docs_page_is_swagger_ui_with_the_document_inline_and_local_assets(stack: RunningStack) -> None:
    response = get(stack, "/docs")
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    page = response.text
    assert "SwaggerUIBundle(" in page
    # Script and style come from the stack itself; nothing is loaded from another host.
    assert "<script src='/docs/swagger-ui-bundle.min.js'></script>" in page
    assert "<link rel='stylesheet' type='text/css' href='/docs/swagger-ui.min.css'>" in page
    assert not re.search(r"""(src|href)\s*=\s*['"](https?:)?//""", page)
    # The inline spec is the generated document.
    spec = page.split("spec: ", 1)[1].split(",\n    presets:", 1)[0]
    assert json.loads(spec.replace("<\\/", "</")) == get(stack, "/openapi.json").json()


def test_swagger_ui_assets_come_from_the_powertools_wheel(stack: RunningStack) -> None:
    for name, content_type in (
        ("swagger-ui-bundle.min.js", "application/javascript"),
        ("swagger-ui.min.css", "text/css"),
    ):
        response = get(stack, f"/docs/{name}")
        assert response.status_code == 200, name
        assert response.headers["Content-Type"].startswith(content_type)
        shipped = importlib.resources.files(SWAGGER_UI).joinpath(name).read_bytes()
        assert response.content == shipped


def test_docs_do_not_open_the_api(stack: RunningStack) -> None:
    # Only the documentation is public: the API still wants credentials.
    response = get(stack, "/integration-credentials/")
    assert response.status_code == 401
    assert get(stack, "/docs/other.js").status_code == 404
