"""SnapStart in template.yaml, as the SAM translator (what `sam deploy` uses) makes it: the API
functions publish versions behind an alias `live`, API Gateway invokes that alias, a deploy that
changes the shared layer or the SnapStart parameter publishes a new version, and only prod turns
snapshots on."""

import copy
import re
import tomllib
from functools import cache
from typing import Any

from local_stack import iam
from local_stack.template import ROOT, load_template, resources_of_type, routes

API_FUNCTIONS = sorted({route.function for route in routes()})
ALIAS = "live"


@cache
def _translated() -> dict[str, Any]:
    return iam.translated(load_template(), "us-east-1")["Resources"]


def _versions(resources: dict[str, Any], function: str) -> list[str]:
    return [
        name
        for name, resource in resources.items()
        if resource["Type"] == "AWS::Lambda::Version"
        and resource["Properties"]["FunctionName"] == {"Ref": function}
    ]


def test_the_api_functions_and_only_they_take_the_snapstart_parameter():
    assert len(API_FUNCTIONS) == 10
    for name, resource in resources_of_type("AWS::Serverless::Function").items():
        props = resource["Properties"]
        if name in API_FUNCTIONS:
            assert props["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}, name
            assert props["AutoPublishAlias"] == ALIAS, name
        else:
            # The scheduler, its shard scanner and the worker: invoked by a schedule and queues,
            # nobody waits on their cold start, and each restore would be billed.
            assert "SnapStart" not in props and "AutoPublishAlias" not in props, name
    translated = _translated()
    for function in API_FUNCTIONS:
        assert translated[function]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}


def test_the_parameter_is_off_by_default_and_on_in_prod():
    parameter = load_template()["Parameters"]["SnapStart"]
    assert parameter["AllowedValues"] == ["PublishedVersions", "None"]
    assert parameter["Default"] == "None"
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())

    def overrides(environment: str) -> dict[str, str]:
        text = config[environment]["deploy"]["parameters"]["parameter_overrides"]
        return dict(pair.split("=", 1) for pair in text.split())

    assert overrides("prod")["SnapStart"] == "PublishedVersions"
    assert "SnapStart" not in overrides("default")


def test_each_api_function_has_an_alias_on_its_published_version():
    translated = _translated()
    for function in API_FUNCTIONS:
        (version,) = _versions(translated, function)
        alias = translated[f"{function}Alias{ALIAS}"]
        assert alias["Type"] == "AWS::Lambda::Alias"
        assert alias["Properties"]["Name"] == ALIAS
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version, "Version"]}
        # Deleted once a new version replaced it (the alias has moved): a kept one would keep its
        # snapshot cached, and billed.
        assert translated[version]["DeletionPolicy"] == "Delete"


def test_api_gateway_invokes_the_alias_never_the_unpublished_function():
    translated = _translated()
    (api,) = [resource for resource in translated.values() if resource["Type"] == "AWS::ApiGatewayV2::Api"]
    integrated: dict[str, set[str]] = {}
    for path, operations in api["Properties"]["Body"]["paths"].items():
        for method, operation in operations.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            (target,) = re.findall(r"/functions/\$\{([A-Za-z0-9]+)\}/invocations$", uri)
            integrated.setdefault(target, set()).add(f"{method.upper()} {path}")
    assert set(integrated) == {f"{function}Alias{ALIAS}" for function in API_FUNCTIONS}
    # And API Gateway's permission to invoke is the alias's (a permission on the function alone
    # would not let it call the alias).
    permissions = [
        resource["Properties"]
        for resource in translated.values()
        if resource["Type"] == "AWS::Lambda::Permission"
        and resource["Properties"]["Principal"] == "apigateway.amazonaws.com"
    ]
    assert {p["FunctionName"]["Ref"] for p in permissions} == set(integrated)


def test_a_change_to_the_shared_layer_alone_publishes_new_versions():
    # The code lives in the layer: without AutoPublishAliasAllProperties, SAM publishes a version
    # only when CodeUri, Environment or MemorySize change, and the alias would keep old code.
    changed = copy.deepcopy(load_template())
    changed["Resources"]["CommonLayer"]["Properties"]["ContentUri"] = "layers/common-changed/"
    before, after = _translated(), iam.translated(changed, "us-east-1")["Resources"]
    for function in API_FUNCTIONS:
        assert _versions(before, function) != _versions(after, function), function


def test_switching_snapstart_alone_replaces_the_versions():
    # SAM's version id does not resolve parameters; the version's Description (a property whose
    # change replaces an AWS::Lambda::Version, so Lambda publishes a new one) does.
    translated = _translated()
    for function in API_FUNCTIONS:
        (version,) = _versions(translated, function)
        description = translated[version]["Properties"]["Description"]
        assert "${SnapStart}" in description["Fn::Sub"]


def test_the_key_policy_still_names_the_roles_the_versions_run_as():
    # Versions and aliases run with the function's role: the key policy's principals are unchanged.
    translated = _translated()
    statements = translated["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
    named = {
        principal["Fn::GetAtt"][0]
        for statement in statements
        if isinstance(statement, dict) and "Principal" in statement
        for principal in statement["Principal"]["AWS"]
        if isinstance(statement["Principal"]["AWS"], list) and isinstance(principal, dict)
    }
    for role in named:
        assert translated[role]["Type"] == "AWS::IAM::Role"
        function = role.removesuffix("Role")
        assert translated[function]["Properties"]["Role"] == {"Fn::GetAtt": [role, "Arn"]}
