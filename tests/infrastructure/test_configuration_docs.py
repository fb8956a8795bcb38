"""docs/configuration.md is generated from the settings model (`make configuration`) and
committed; template.yaml gives the functions only documented variables, and each function what
it checks at init."""

import difflib
import re

import pytest
from generators.configuration import (
    OTHER_VARIABLES,
    OUTPUT,
    function_roles,
    render,
    template_environment,
)
from integration_credentials.core.settings import FIELDS, ROLE_SETTINGS, env_name
from local_stack.template import load_template, resources_of_type

SETTINGS = {env_name(field): field for field in FIELDS}
# `<PROVIDER>` in a documented name stands for a provider's name in upper case.
OTHERS = [re.compile(re.escape(name).replace("<PROVIDER>", "[A-Z0-9_]+") + "$") for name in OTHER_VARIABLES]


def test_the_committed_page_is_the_generated_one():
    expected = render()
    current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
    diff = "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True), expected.splitlines(keepends=True), "committed", "generated"
        )
    )
    assert current == expected, f"docs/configuration.md is stale: run make configuration\n{diff}"


def test_every_setting_is_on_the_page_with_its_description():
    page = OUTPUT.read_text(encoding="utf-8")
    for variable, field in SETTINGS.items():
        description = FIELDS[field].description
        assert description and description.strip(), f"{field} has no description"
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `{variable}` |")]
        assert description.replace("|", "\\|") in row


def test_template_gives_the_functions_only_settings_or_documented_variables():
    for variable in template_environment():
        assert variable in SETTINGS or any(pattern.match(variable) for pattern in OTHERS), (
            f"template.yaml gives the functions {variable}: neither a setting nor in OTHER_VARIABLES"
        )


def _never_empty(value: object) -> bool:
    """A template value no deployment can leave empty: a resource of the stack, or a parameter
    whose AllowedPattern refuses the empty string."""
    template = load_template()
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return True
    if isinstance(value, dict) and "Ref" in value:
        parameter = template.get("Parameters", {}).get(value["Ref"])
        if parameter is None:
            return value["Ref"] in template["Resources"]
        return "AllowedPattern" in parameter and re.fullmatch(parameter["AllowedPattern"], "") is None
    return isinstance(value, str) and bool(value)


@pytest.mark.parametrize("function", sorted(function_roles()))
def test_template_gives_each_function_what_its_role_checks_at_init(function):
    role = function_roles()[function]
    where = template_environment()
    for field in {"table_name", "kms_key_arn", *ROLE_SETTINGS[role]}:
        values = where.get(env_name(field), {})
        value = values.get(function, values.get(None))
        # Then its cold start cannot fail for want of it, in any deployment
        assert value is not None, f"template.yaml gives {function} ({role}) no {env_name(field)}"
        assert _never_empty(value), f"a deployment may leave {env_name(field)} of {function} empty"


def test_every_function_checks_one_role():
    roles = function_roles()
    assert set(roles) == {
        props["Properties"]["CodeUri"].rstrip("/").rsplit("/", 1)[-1]
        for props in resources_of_type("AWS::Serverless::Function").values()
    }
    assert set(roles.values()) == set(ROLE_SETTINGS)
