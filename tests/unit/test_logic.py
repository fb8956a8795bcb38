"""Pure logic: settings, timestamps, error mapping, bearer parsing, key shape, template reading."""

import json
import re

import pytest
from credentials_admin.cli import generate_api_key
from integration_credentials.adapters.auth import _bearer_token, api_key_id, hash_api_key
from integration_credentials.core.constants import API_KEY_PATTERN
from integration_credentials.core.errors import (
    AuthenticationError,
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsIntegrityError,
    CredentialsNotFoundError,
    DependencyUnavailableError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from integration_credentials.core.models import utc_timestamp
from integration_credentials.core.settings import settings_from_environ
from integration_credentials.http.errors import error_response
from local_stack.routing import select_target
from local_stack.template import function_environment, routes, table_resource


def test_settings_need_table_and_key():
    with pytest.raises(ValueError, match="TABLE_NAME"):
        settings_from_environ({"KMS_KEY_ARN": "arn"})
    settings = settings_from_environ(
        {"TABLE_NAME": "t", "KMS_KEY_ARN": "arn", "JWT_ISSUER": "", "API_KEY_CACHE_SECONDS": "5"}
    )
    assert settings.jwt_issuer is None  # empty template parameters mean "not configured"
    assert settings.api_key_cache_seconds == 5
    assert settings.jwt_algorithm == "HS256"


def test_settings_reject_an_unknown_algorithm():
    with pytest.raises(ValueError):
        settings_from_environ({"TABLE_NAME": "t", "KMS_KEY_ARN": "arn", "JWT_ALGORITHM": "none"})


def test_timestamps_are_utc_iso_with_z_and_strictly_increasing():
    stamp = utc_timestamp()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", stamp)
    future = "2999-01-01T00:00:00.000000Z"
    assert utc_timestamp(after=future) == "2999-01-01T00:00:00.000001Z"


@pytest.mark.parametrize(
    ("error", "status", "detail"),
    [
        (AuthenticationError("x"), 401, "Invalid or missing authentication credentials"),
        (PermissionDeniedError("x"), 403, "You do not have permission to access this resource"),
        (
            CredentialsNotFoundError(provider="zoho"),
            404,
            "Integration credentials for provider 'zoho' not found",
        ),
        (CredentialsNotFoundError(credentials_id="abc"), 404, "Integration credentials abc not found"),
        (
            CredentialsAlreadyExistError("zoho"),
            409,
            "Integration credentials for provider 'zoho' already exist",
        ),
        (ConcurrentModificationError("x"), 409, None),
        (PayloadTooLargeError("too big"), 413, "too big"),
        (
            DependencyUnavailableError("KMS", "Throttling"),
            503,
            "Service temporarily unavailable (KMS); retry later",
        ),
        (CredentialsIntegrityError("x"), 500, "Stored credentials failed an integrity check"),
    ],
)
def test_error_mapping(error, status, detail):
    response = error_response(error)
    assert response.status_code == status
    body = json.loads(response.body)
    assert set(body) == {"detail"}
    if detail is not None:
        assert body["detail"] == detail
    if status == 503:
        assert response.headers["Retry-After"].isdigit()


@pytest.mark.parametrize("header", ["Bearer abc", "bearer abc", "BEARER  abc "])
def test_bearer_scheme_is_case_insensitive(header):
    assert _bearer_token(header) == "abc"


@pytest.mark.parametrize("header", ["abc", "Basic abc", "Bearer", "Bearer   ", "Token abc"])
def test_non_bearer_authorization_is_rejected(header):
    with pytest.raises(AuthenticationError):
        _bearer_token(header)


def test_minted_keys_look_like_the_seeds_and_are_unique():
    keys = {generate_api_key() for _ in range(200)}
    assert len(keys) == 200
    for key in keys:
        assert key.startswith("sk_live_")
        assert re.fullmatch(API_KEY_PATTERN, key)
        assert len(key) - len("sk_live_") >= 22  # >= 128 bits in base62
    key = next(iter(keys))
    assert api_key_id(hash_api_key(key)) == hash_api_key(key)[:16]
    assert key not in hash_api_key(key)


def test_template_declares_nine_endpoints_and_the_table_key():
    declared = {(r.method, r.path) for r in routes()}
    assert declared == {
        ("POST", "/integration-credentials"),
        # The seed's /integration-credentials/ (tests/unit/test_route_selection.py)
        ("POST", "/integration-credentials/{proxy+}"),
        ("GET", "/integration-credentials"),
        ("GET", "/integration-credentials/{proxy+}"),
        ("GET", "/integration-credentials/provider/{provider}"),
        ("GET", "/integration-credentials/{credentials_id}"),
        ("PUT", "/integration-credentials/{credentials_id}"),
        ("DELETE", "/integration-credentials/{credentials_id}"),
        ("POST", "/integration-credentials/{credentials_id}/refresh"),
        ("POST", "/integration-credentials/connect"),
        ("GET", "/integration-credentials/oauth/callback"),
    }
    assert len({r.function for r in routes()}) == 9
    _, table = table_resource()
    assert table["KeySchema"] == [
        {"AttributeName": "org_id", "KeyType": "HASH"},
        {"AttributeName": "provider", "KeyType": "RANGE"},
    ]


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


def test_function_environment_resolves_template_references():
    refs = {
        "CredentialsTable": "tbl",
        "ApiKeysTable": "keys",
        "JwtSecretParameterName": "/p",
        "HmacKeyParameterName": "/h",
        "IdempotencyTable": "idem",
        "JwtAlgorithm": "HS256",
        "JwtJwksUrl": "",
        "JwtIssuer": "",
        "JwtAudience": "",
        "JwtMaxAgeSeconds": "",
        "JwtJwksCacheSeconds": "60",
        "JwtDefaultScopes": "credentials:read",
        "LogLevel": "INFO",
        "OAuthClientParameterPrefix": "/oauth/",
        "EventBusName": "default",
    }
    env = function_environment(refs, {("CredentialsKey", "Arn"): "arn:key"})
    assert env["TABLE_NAME"] == "tbl"
    assert env["API_KEYS_TABLE_NAME"] == "keys"
    assert env["KMS_KEY_ARN"] == "arn:key"
    assert env["JWT_SECRET_PARAMETER"] == "/p"
    assert (env["JWT_JWKS_CACHE_SECONDS"], env["JWT_DEFAULT_SCOPES"]) == ("60", "credentials:read")
    assert env["HMAC_KEY_PARAMETER"] == "/h"
    assert env["IDEMPOTENCY_TABLE_NAME"] == "idem"
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"


def test_every_function_routes_its_audit_lines_with_the_codes_marker():
    from integration_credentials.adapters.audit import MARKER
    from local_stack.template import load_template, resources_of_type

    # Every function logs to the one group (Globals: LoggingConfig), none overrides it.
    template = load_template()
    assert template["Globals"]["Function"]["LoggingConfig"] == {"LogGroup": {"Ref": "FunctionsLogGroup"}}
    for name, function in resources_of_type("AWS::Serverless::Function").items():
        assert "LoggingConfig" not in function["Properties"], name
    # ...whose one subscription filter routes the lines carrying the marker to the archive.
    [audit_filter] = resources_of_type("AWS::Logs::SubscriptionFilter").values()
    props = audit_filter["Properties"]
    assert props["FilterPattern"] == '{ $.audit = "' + MARKER + '" }'
    assert props["LogGroupName"] == {"Ref": "FunctionsLogGroup"}
    assert props["DestinationArn"] == {"Fn::GetAtt": ["AuditDeliveryStream", "Arn"]}
    assert "AuditBucket" in template["Resources"]
