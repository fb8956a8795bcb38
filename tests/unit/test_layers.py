"""The shared package's house rules that import-linter cannot state: every domain error has its
HTTP answer in the one table, the lists that two layers keep agree, and a long module says why."""

import ast
import inspect

import pytest
from integration_credentials.adapters import providers
from integration_credentials.adapters.providers.errors import PermanentRefreshError
from integration_credentials.core import constants, errors
from integration_credentials.core.errors import CredentialsError
from integration_credentials.http.errors import ERROR_TABLE, error_response
from local_stack.template import ROOT

PACKAGE = ROOT / "layers" / "common" / "integration_credentials"
MAX_LINES = 300


def domain_error_types() -> list[type[CredentialsError]]:
    return [
        value
        for value in vars(errors).values()
        if inspect.isclass(value)
        and issubclass(value, CredentialsError)
        and value.__module__ == errors.__name__
    ]


def test_every_domain_error_type_has_its_own_row_in_the_http_table() -> None:
    missing = [error.__name__ for error in domain_error_types() if error not in ERROR_TABLE]
    assert missing == []
    assert len(domain_error_types()) >= 20


def test_an_error_the_table_does_not_name_is_a_plain_500() -> None:
    # A provider failure is handled by the refresher; one that escaped would be a bug.
    response = error_response(PermanentRefreshError("invalid_grant", "expired"))
    assert (response.status_code, response.body) == (500, '{"detail": "Internal server error"}')


def test_the_refresh_schedule_and_the_provider_clients_name_the_same_crms() -> None:
    assert constants.REFRESHABLE_PROVIDERS == providers.REFRESHABLE_PROVIDERS


def test_the_verification_schedule_and_the_identity_calls_name_the_same_crms() -> None:
    assert constants.IDENTIFIABLE_PROVIDERS == providers.IDENTIFIABLE_PROVIDERS


def _docstring(path: str) -> str:
    return ast.get_docstring(ast.parse((PACKAGE / path).read_text())) or ""


@pytest.mark.parametrize(
    "path", sorted(str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
)
def test_a_module_over_300_lines_says_why_at_its_top(path: str) -> None:
    lines = (PACKAGE / path).read_text().count("\n")
    if lines > MAX_LINES:
        assert f"Longer than {MAX_LINES} lines" in _docstring(path), f"{path}: {lines} lines"
