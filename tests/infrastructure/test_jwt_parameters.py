"""The JWT template parameters: a deployed stack names the issuer and audience its tokens must
carry, and samconfig.toml's environments do; prod's tokens without a scope claim may only read."""

import re
import tomllib

from integration_credentials.core.constants import ALL_SCOPES, SCOPE_READ
from integration_credentials.core.settings import settings_from_environ
from local_stack.template import ROOT, load_template


def overrides(environment: str) -> dict[str, str]:
    with (ROOT / "samconfig.toml").open("rb") as handle:
        config = tomllib.load(handle)
    pairs = config[environment]["deploy"]["parameters"]["parameter_overrides"].split()
    return dict(pair.split("=", 1) for pair in pairs)


def test_a_deploy_without_issuer_or_audience_is_refused():
    parameters = load_template()["Parameters"]
    for name in ("JwtIssuer", "JwtAudience"):
        # No default: CloudFormation refuses a deploy that gives no value, and an empty one too.
        assert "Default" not in parameters[name], name
        assert not re.fullmatch(parameters[name]["AllowedPattern"], ""), name
        assert re.fullmatch(parameters[name]["AllowedPattern"], "https://idp.example/tenant"), name


def test_every_environment_names_them_and_prod_reads_by_default():
    for environment in ("default", "prod"):
        given = overrides(environment)
        assert given["JwtIssuer"] and given["JwtAudience"], environment
    assert overrides("default")["JwtAudience"] != overrides("prod")["JwtAudience"]
    assert overrides("prod")["JwtDefaultScopes"] == SCOPE_READ
    assert "JwtDefaultScopes" not in overrides("default")


def test_default_scopes_parameter_values_are_settings_the_functions_accept():
    parameter = load_template()["Parameters"]["JwtDefaultScopes"]
    base = {"TABLE_NAME": "t", "KMS_KEY_ARN": "k"}
    default = settings_from_environ({**base, "JWT_DEFAULT_SCOPES": parameter["Default"]})
    assert default.jwt_default_scopes == ALL_SCOPES
    for value in (parameter["Default"], overrides("prod")["JwtDefaultScopes"], "credentials:write"):
        assert re.fullmatch(parameter["AllowedPattern"], value), value
    for value in ("", "credentials:admin", "credentials:read credentials:write", "*"):
        assert not re.fullmatch(parameter["AllowedPattern"], value), value
