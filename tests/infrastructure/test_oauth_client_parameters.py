"""Who may read the OAuth apps' client secrets, decided on template.yaml's policies as the SAM
translator makes them (no recorded calls needed): the connect function builds authorize URLs and
may read each app's client id (`<prefix>client-id/<provider>`, a String) and never the SecureString
holding the client secret (`<prefix><provider>`); the code exchange and refresh read the secret."""

import copy
from typing import Any

import pytest
from integration_credentials.core.constants import REFRESHABLE_PROVIDERS, oauth_client_id_parameter
from local_stack import iam
from local_stack.template import load_template, parameter_defaults

REGION = "us-east-1"
PREFIX = parameter_defaults()["OAuthClientParameterPrefix"]
# Every SSM action that returns a parameter's value (or an older value of it).
READ_ACTIONS = ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath", "ssm:GetParameterHistory")
SECRET_READERS = (
    "OAuthCallbackFunction",
    "RefreshCredentialsFunction",
    "RefreshWorkerFunction",
    "VerifyCredentialsFunction",
)


def policies_of(template: dict[str, Any]) -> iam.Policies:
    return iam.policies(template, *iam.placeholder_resources(template, REGION))


@pytest.fixture(scope="module")
def policies() -> iam.Policies:
    return policies_of(load_template())


def may(policies: iam.Policies, function: str, action: str, name: str) -> bool:
    return iam.allowed(policies, iam.Access(function, action, iam.parameter_arn(name, REGION)))


@pytest.mark.parametrize("provider", sorted(REFRESHABLE_PROVIDERS))
@pytest.mark.parametrize("action", READ_ACTIONS)
def test_the_connect_function_cannot_read_a_client_secret(policies, provider, action):
    assert not may(policies, "ConnectCredentialsFunction", action, PREFIX + provider)
    # ...nor the prefix's path as a whole
    assert not may(policies, "ConnectCredentialsFunction", action, PREFIX.rstrip("/"))


@pytest.mark.parametrize("provider", sorted(REFRESHABLE_PROVIDERS))
def test_the_connect_function_reads_only_the_client_id(policies, provider):
    assert may(
        policies,
        "ConnectCredentialsFunction",
        "ssm:GetParameter",
        oauth_client_id_parameter(PREFIX, provider),
    )


@pytest.mark.parametrize("function", SECRET_READERS)
def test_the_code_exchange_and_refresh_read_the_client_secret(policies, function):
    for provider in REFRESHABLE_PROVIDERS:
        assert may(policies, function, "ssm:GetParameter", PREFIX + provider)


def test_a_template_granting_the_connect_function_the_secrets_again_is_caught():
    # Given the template with the connect function's parameter grant widened to the whole prefix
    template = copy.deepcopy(load_template())
    statements = template["Resources"]["ConnectCredentialsFunction"]["Properties"]["Policies"][0]["Statement"]
    [grant] = [statement for statement in statements if statement["Action"] == "ssm:GetParameter"]
    grant["Resource"] = {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter${OAuthClientParameterPrefix}*"
    }
    # Then the check above would fail on it
    assert may(policies_of(template), "ConnectCredentialsFunction", "ssm:GetParameter", PREFIX + "zoho")
