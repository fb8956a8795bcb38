"""Which route of the deployed HTTP API serves each seed path: template.yaml as the SAM translator
turns it into the API's OpenAPI body and Lambda permissions, and API Gateway's documented route
selection (local_stack.routing, which `make run` uses too)."""

import fnmatch
import itertools
import re
from functools import cache
from typing import Any

import pytest
from local_stack import iam
from local_stack.routing import DEFAULT_RULES, PathRules, select_route, select_target
from local_stack.template import load_template, routes

ID = "3f2b8c1e-6d4a-4b7e-9a51-0c8d2e7f4a10"
REGION = "us-east-1"
API_ID = "abcdef1234"

# Each seed path (both spellings of the collection) -> the route key and function that serve it.
SEED_ROUTES = {
    ("POST", "/integration-credentials/"): (
        "POST /integration-credentials/{proxy+}",
        "CreateCredentialsFunction",
    ),
    ("POST", "/integration-credentials"): ("POST /integration-credentials", "CreateCredentialsFunction"),
    ("GET", "/integration-credentials/"): (
        "GET /integration-credentials/{proxy+}",
        "ListCredentialsFunction",
    ),
    ("GET", "/integration-credentials"): ("GET /integration-credentials", "ListCredentialsFunction"),
    ("GET", f"/integration-credentials/{ID}"): (
        "GET /integration-credentials/{credentials_id}",
        "GetCredentialsFunction",
    ),
    ("GET", "/integration-credentials/provider/salesforce"): (
        "GET /integration-credentials/provider/{provider}",
        "GetCredentialsByProviderFunction",
    ),
    ("PUT", f"/integration-credentials/{ID}"): (
        "PUT /integration-credentials/{credentials_id}",
        "UpdateCredentialsFunction",
    ),
    ("DELETE", f"/integration-credentials/{ID}"): (
        "DELETE /integration-credentials/{credentials_id}",
        "DeleteCredentialsFunction",
    ),
    ("POST", f"/integration-credentials/{ID}/refresh"): (
        "POST /integration-credentials/{credentials_id}/refresh",
        "RefreshCredentialsFunction",
    ),
    ("POST", f"/integration-credentials/{ID}/verify"): (
        "POST /integration-credentials/{credentials_id}/verify",
        "VerifyCredentialsFunction",
    ),
}
SLASH = "/integration-credentials/"
ALL_RULES = [PathRules(*flags) for flags in itertools.product((False, True), repeat=3)]


@cache
def translated() -> dict[str, Any]:
    return iam.translated(load_template(), REGION)


def deployed_routes() -> dict[str, str]:
    """Route key -> function logical id, from the HttpApi's OpenAPI body the translator writes."""
    (api,) = [r for r in translated()["Resources"].values() if r["Type"] == "AWS::ApiGatewayV2::Api"]
    found: dict[str, str] = {}
    for path, operations in api["Properties"]["Body"]["paths"].items():
        for method, operation in operations.items():
            uri = operation["x-amazon-apigateway-integration"]["uri"]["Fn::Sub"]
            # The function, or its SnapStart alias (`<Function>Alias<name>`: AutoPublishAlias).
            function = re.fullmatch(r".*/functions/\$\{(\w+?Function)(?:\.Arn|Alias\w+)\}/invocations", uri)
            assert function is not None, uri
            method = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            found[f"{method} {path}"] = function.group(1)
    return found


def invoke_permissions() -> dict[str, list[str]]:
    """Function -> the execute-api ARN patterns its resource policy lets API Gateway invoke it from."""
    values = {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": iam.ACCOUNT_ID}
    found: dict[str, list[str]] = {}
    for resource in translated()["Resources"].values():
        props = resource["Properties"]
        if resource["Type"] != "AWS::Lambda::Permission" or props["Principal"] != "apigateway.amazonaws.com":
            continue
        template, names = props["SourceArn"]["Fn::Sub"]
        assert names["__ApiId__"] == {"Ref": "HttpApi"}
        arn = template
        for name, value in {**values, "__ApiId__": API_ID, "__Stage__": names["__Stage__"]}.items():
            arn = arn.replace("${" + name + "}", value)
        target = re.sub(r"(Function)Alias\w+$", r"\1", props["FunctionName"]["Ref"])
        found.setdefault(target, []).append(arn)
    return found


def test_the_documented_example_is_routed_as_the_documentation_says():
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-routes.html
    example = ["GET /pets/dog/1", "GET /pets/dog/{id}", "GET /pets/{proxy+}", "ANY /{proxy+}", "$default"]
    assert select_route(example, "GET", "/pets/dog/1").route_key == "GET /pets/dog/1"
    assert select_route(example, "GET", "/pets/dog/2").route_key == "GET /pets/dog/{id}"
    assert select_route(example, "GET", "/pets/cat/1").route_key == "GET /pets/{proxy+}"
    assert select_route(example, "POST", "/test/5").route_key == "ANY /{proxy+}"
    # Nothing else matches: $default; without it, API Gateway's 404.
    assert select_route(["GET /pets/dog/{id}", "$default"], "GET", "/cats").route_key == "$default"
    assert select_route(["GET /pets/dog/{id}"], "GET", "/cats") is None


def test_the_aws_emulators_trailing_slash_cases():
    # aws/aws-lambda-dotnet, Lambda Test Tool v2, ApiGatewayRouteConfigServiceTests.ProperlyMatchRouteConfigs
    emulated = ["ANY /{proxy+}", "GET /pe/{proxy+}", "GET /pets/{proxy+}", "GET /pets/dog/{id}"]
    assert select_route(emulated, "GET", "/pe/").route_key == "GET /pe/{proxy+}"
    assert select_route(emulated, "GET", "/pe").route_key == "ANY /{proxy+}"
    assert select_route(emulated, "GET", "/").route_key == "ANY /{proxy+}"
    assert select_route(emulated, "GET", "/pets/dog/1/2/3/4").route_key == "GET /pets/{proxy+}"


def test_route_keys_are_what_api_gateway_accepts():
    with pytest.raises(ValueError, match="not an HTTP API route key"):
        select_route(["GET /integration-credentials/"], "GET", SLASH)
    with pytest.raises(ValueError, match="must end the path"):
        select_route(["GET /{proxy+}/refresh"], "GET", "/x/refresh")


def test_the_deployed_api_has_the_routes_make_run_serves():
    assert deployed_routes() == {route.route_key: route.function for route in routes()}


@pytest.mark.parametrize(("request_line", "expected"), SEED_ROUTES.items(), ids=" ".join)
def test_each_seed_path_reaches_its_function(request_line, expected):
    method, path = request_line
    found = select_target(deployed_routes(), method, path)
    assert found is not None
    function, match = found
    assert (match.route_key, function) == expected
    # And the function lets API Gateway invoke it from that route (SAM's permission per event).
    route_path = match.route_key.split(" ", 1)[1]
    for invoked_as in (path, route_path):
        source = f"arn:aws:execute-api:{REGION}:{iam.ACCOUNT_ID}:{API_ID}/$default/{method}{invoked_as}"
        assert any(fnmatch.fnmatchcase(source, arn) for arn in invoke_permissions()[function]), source


@pytest.mark.parametrize("rules", ALL_RULES, ids=repr)
def test_what_the_undocumented_trailing_slash_rules_change(rules):
    # Whatever API Gateway does with a trailing "/", every other seed path is served the same.
    targets = deployed_routes()
    for (method, path), (_, function) in SEED_ROUTES.items():
        if path != SLASH:
            assert select_target(targets, method, path, rules)[0] == function, (method, path)
    create = select_target(targets, "POST", SLASH, rules)
    listing = select_target(targets, "GET", SLASH, rules)
    if rules.trailing_slash_ignored:
        # The gateway drops the slash: the routes without it serve the seed's spelling.
        assert create[1].route_key == "POST /integration-credentials"
        assert listing[1].route_key == "GET /integration-credentials"
    elif rules.greedy_matches_empty and not rules.variable_matches_empty:
        # The default rules (AWS's emulator's): the greedy routes serve it.
        assert create[1].route_key == "POST /integration-credentials/{proxy+}"
        assert listing[1].route_key == "GET /integration-credentials/{proxy+}"
    if rules.trailing_slash_ignored or rules.greedy_matches_empty:
        assert create[0] == "CreateCredentialsFunction"
    else:
        # No route key can spell an empty last segment: only a real stage says (make smoke).
        assert create is None
    if not rules.trailing_slash_ignored and rules.variable_matches_empty:
        # A full match wins over a greedy one: GET /{credentials_id} with an empty id (its 404).
        assert listing[0] == "GetCredentialsFunction"
    elif rules.trailing_slash_ignored or rules.greedy_matches_empty:
        assert listing[0] == "ListCredentialsFunction"
    else:
        assert listing is None


def test_the_default_rules_are_the_ones_the_routes_were_chosen_under():
    chosen_under = PathRules(
        trailing_slash_ignored=False, greedy_matches_empty=True, variable_matches_empty=False
    )
    assert chosen_under == DEFAULT_RULES


def test_routes_of_more_segments_are_not_captured_by_the_collection_routes():
    # The OAuth connect flow's routes (literal segments) beside the template's.
    targets = {
        **deployed_routes(),
        "POST /integration-credentials/connect": "ConnectFunction",
        "GET /integration-credentials/oauth/callback": "OAuthCallbackFunction",
    }
    assert select_target(targets, "POST", "/integration-credentials/connect")[0] == "ConnectFunction"
    assert (
        select_target(targets, "GET", "/integration-credentials/oauth/callback")[0] == "OAuthCallbackFunction"
    )
    for (method, path), (route_key, function) in SEED_ROUTES.items():
        assert select_target(targets, method, path)[0] == function
        assert select_target(targets, method, path)[1].route_key == route_key
    # A path no endpoint has reaches the collection function's resolver, which answers 404.
    assert (
        select_target(targets, "GET", "/integration-credentials/oauth/other")[0] == "ListCredentialsFunction"
    )
    assert select_target(targets, "POST", "/integration-credentials/a/b")[0] == "CreateCredentialsFunction"
    assert select_target(targets, "PATCH", SLASH) is None


def test_local_routing_selects_the_most_specific_route_of_the_template():
    targets = {route.route_key: route.function for route in routes()}

    def match(method, path):
        found = select_target(targets, method, path)
        return None if found is None else (found[0], found[1].path_parameters)

    assert match("GET", "/integration-credentials/provider/hubspot") == (
        "GetCredentialsByProviderFunction",
        {"provider": "hubspot"},
    )
    assert match("GET", "/integration-credentials/abc") == (
        "GetCredentialsFunction",
        {"credentials_id": "abc"},
    )
    assert match("GET", "/integration-credentials/") == ("ListCredentialsFunction", {"proxy": ""})
    assert match("GET", "/integration-credentials") == ("ListCredentialsFunction", {})
    assert match("PATCH", "/integration-credentials/abc") is None
