"""Settings are one source: each variable is its field's name in upper case and is described on
the field; each function checks at init (its module's import) the table, queue and parameter
names its role needs, so a missing one fails the cold start naming the variable."""

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from integration_credentials.core import settings as settings_module
from integration_credentials.core.constants import SCOPE_WRITE
from integration_credentials.core.settings import (
    FIELDS,
    ROLE_SETTINGS,
    SettingsError,
    env_name,
    require_settings,
    settings_from_environ,
)
from integration_credentials.http.handler import make_handler
from integration_credentials.http.resolver import create_resolver

FUNCTIONS = Path(__file__).resolve().parents[2] / "functions"
# Every name any role needs, as template.yaml gives them (values are never read at init).
NEEDED = {"table_name", "kms_key_arn", *(field for fields in ROLE_SETTINGS.values() for field in fields)}
FULL = {env_name(field): f"/unit/{field}" for field in NEEDED}


def cold_start(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], function: str) -> ModuleType:
    """Import functions/<function>/app.py as Lambda's init does, under `env`."""
    for name in FULL:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_module.get_settings.cache_clear()
    path = FUNCTIONS / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"unit_settings_{function}_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_setting_is_its_fields_name_in_upper_case_and_described():
    for name, field in FIELDS.items():
        assert env_name(name) == name.upper()
        assert field.description and field.description.strip(), name
    # A JSON setting is read from its variable as any other (no alias anywhere).
    environ = {"TABLE_NAME": "t", "KMS_KEY_ARN": "k", "ACCESS_TOKEN_LIFETIME_SECONDS": '{"salesforce": 5400}'}
    assert settings_from_environ(environ).access_token_lifetime_seconds == {"salesforce": 5400}


def test_an_invalid_value_is_named_by_its_variable_never_shown():
    environ = {"TABLE_NAME": "t", "KMS_KEY_ARN": "k", "REFRESH_LEASE_SECONDS": "sentinel-value-4711"}
    with pytest.raises(SettingsError, match="REFRESH_LEASE_SECONDS") as refused:
        settings_from_environ(environ)
    assert "sentinel-value-4711" not in str(refused.value)
    with pytest.raises(SettingsError, match="REFRESH_PROVIDER_LIMITS"):
        settings_from_environ({"TABLE_NAME": "t", "KMS_KEY_ARN": "k", "REFRESH_PROVIDER_LIMITS": "{not json"})


@pytest.mark.parametrize(
    ("role", "field"), [(role, field) for role, fields in ROLE_SETTINGS.items() for field in fields]
)
def test_each_role_refuses_to_start_without_each_name_it_needs(monkeypatch, role, field):
    # Given a function's environment without one name its role needs (or with it empty)
    for value in (None, ""):
        env = {name: v for name, v in FULL.items() if name != env_name(field)}
        if value is not None:
            env[env_name(field)] = value
        for name in FULL:
            monkeypatch.delenv(name, raising=False)
        for name, v in env.items():
            monkeypatch.setenv(name, v)
        settings_module.get_settings.cache_clear()
        # When the role's settings are checked, then the check fails naming the variable
        with pytest.raises(SettingsError, match=rf"{role} needs {env_name(field)}\b"):
            require_settings(role)
    settings_module.get_settings.cache_clear()


def test_the_jwt_secret_is_needed_only_for_hs256(monkeypatch):
    env = {name: v for name, v in FULL.items() if name != "JWT_SECRET_PARAMETER"}
    monkeypatch.setattr(settings_module, "get_settings", lambda: settings_from_environ(env))
    with pytest.raises(SettingsError, match="JWT_SECRET_PARAMETER"):
        require_settings("list")
    env.update(
        JWT_ALGORITHM="RS256",
        JWT_JWKS_URL="https://idp.example.com/jwks",
        JWT_ISSUER="https://idp.example.com/",
        JWT_AUDIENCE="integration-credentials",
    )
    assert require_settings("list").jwt_algorithm == "RS256"


@pytest.mark.parametrize(
    ("function", "missing"),
    [
        ("create_credentials", "IDEMPOTENCY_TABLE_NAME"),
        ("list_credentials", "API_KEYS_TABLE_NAME"),
        ("connect_credentials", "CONNECT_STATES_TABLE_NAME"),
        ("oauth_callback", "CONNECT_RESULT_KEY_PARAMETER"),
        ("refresh_credentials", "OAUTH_CLIENT_PARAMETER_PREFIX"),
        ("refresh_scheduler", "REFRESH_SHARD_QUEUE_URL"),
        ("refresh_shard_scanner", "REFRESH_QUEUE_URL"),
        ("refresh_worker", "OAUTH_CLIENT_PARAMETER_PREFIX"),
        ("delete_credentials", "TABLE_NAME"),
    ],
)
def test_a_missing_name_fails_the_functions_cold_start_naming_it(monkeypatch, function, missing):
    # Given the function's environment without one name it needs
    env = {name: value for name, value in FULL.items() if name != missing}
    # When Lambda imports its module (init), then the import fails, naming the variable
    with pytest.raises(SettingsError, match=rf"\b{missing}\b"):
        cold_start(monkeypatch, env, function)
    # And with every name set, the same module imports
    assert callable(cold_start(monkeypatch, dict(FULL), function).lambda_handler)
    settings_module.get_settings.cache_clear()


def test_the_handler_factory_checks_its_actions_settings(monkeypatch):
    env = {name: value for name, value in FULL.items() if name != "IDEMPOTENCY_TABLE_NAME"}
    monkeypatch.setattr(settings_module, "get_settings", lambda: settings_from_environ(env))
    with pytest.raises(SettingsError, match="create needs IDEMPOTENCY_TABLE_NAME"):
        make_handler(create_resolver(), action="create", scope=SCOPE_WRITE)
    # Another action that needs no idempotency table starts
    assert callable(make_handler(create_resolver(), action="update", scope=SCOPE_WRITE))


def test_settings_are_immutable_and_a_changed_copy_is_validated_again():
    settings = settings_from_environ({"TABLE_NAME": "t", "KMS_KEY_ARN": "k"})
    with pytest.raises(AttributeError):
        settings.table_name = "other"  # type: ignore[misc]
    assert settings.replace(refresh_shard_scanners=8).refresh_shard_scanners == 8
    assert settings.refresh_shard_scanners == 16
    with pytest.raises(ValueError, match="less than or equal to 64"):
        settings.replace(refresh_shard_scanners=65)
    with pytest.raises(ValueError, match="refresh_shard_scaners"):
        settings.replace(refresh_shard_scaners=8)
