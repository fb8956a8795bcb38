"""Pure logic: settings, timestamps, error mapping, bearer parsing, key shape."""

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
