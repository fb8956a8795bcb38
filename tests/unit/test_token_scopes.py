"""What a bearer token may do: its `scope` or `scp` claim, in either spelling, else JWT_DEFAULT_SCOPES."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.adapters.auth import token_scopes
from integration_credentials.core.constants import ALL_SCOPES, SCOPE_READ, SCOPE_REFRESH, SCOPE_WRITE
from integration_credentials.core.errors import AuthenticationError
from integration_credentials.core.settings import settings_from_environ

READ_WRITE = frozenset({SCOPE_READ, SCOPE_WRITE})
DEFAULT = frozenset({SCOPE_REFRESH})


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "credentials:read credentials:write"},
        {"scope": "  credentials:read\tcredentials:write openid "},
        {"scope": ["credentials:read", "credentials:write", "openid"]},
        {"scp": "credentials:read credentials:write"},
        {"scp": ["credentials:write", "credentials:read"]},
        # `scope` is the standard claim: with both, it is the one read.
        {"scope": "credentials:read credentials:write", "scp": "credentials:refresh"},
        {"scope": ["credentials:read", "credentials:write"], "scp": ["credentials:refresh"]},
    ],
)
def test_scope_and_scp_as_a_string_or_a_list(claims):
    assert token_scopes(claims, DEFAULT) == READ_WRITE


def test_a_token_without_either_claim_gets_the_default():
    assert token_scopes({"org_id": "acme"}, DEFAULT) == DEFAULT
    assert token_scopes({"scope": None, "scp": None}, DEFAULT) == DEFAULT


@pytest.mark.parametrize("claims", [{"scope": ""}, {"scope": []}, {"scp": ""}, {"scp": ["openid"]}])
def test_an_empty_or_foreign_claim_grants_nothing(claims):
    assert token_scopes(claims, DEFAULT) == frozenset()


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": 1},
        {"scope": {"credentials:read": True}},
        {"scope": ["credentials:read", 1]},
        {"scp": True},
        {"scp": [["credentials:read"]]},
    ],
)
def test_a_claim_of_another_shape_is_refused(claims):
    with pytest.raises(AuthenticationError):
        token_scopes(claims, DEFAULT)
    if "scp" in claims:
        # `scope` is read first: with it, the shape of `scp` does not matter.
        assert token_scopes({**claims, "scope": "credentials:read"}, DEFAULT) == {SCOPE_READ}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4),
    max_leaves=12,
)
scope_words = st.sampled_from([*sorted(ALL_SCOPES), "openid", "credentials:*", "credentials:admin", ""])


@given(
    scope=json_values | st.lists(scope_words, max_size=5) | st.lists(scope_words, max_size=5).map(" ".join),
    scp=json_values | st.lists(scope_words, max_size=5),
)
def test_hostile_claims_grant_only_scopes_they_name(scope, scp):
    claims = {"scope": scope, "scp": scp}
    try:
        granted = token_scopes(claims, DEFAULT)
    except AuthenticationError:
        return
    claim = scope if scope is not None else scp
    if claim is None:
        assert granted == DEFAULT
    else:
        named = set(claim.split()) if isinstance(claim, str) else set(claim)
        assert granted <= ALL_SCOPES and granted <= named


def test_default_scopes_setting():
    base = {"TABLE_NAME": "t", "KMS_KEY_ARN": "k"}
    assert settings_from_environ(base).jwt_default_scopes == ALL_SCOPES
    for value in ("credentials:read", " credentials:read ", "credentials:read,credentials:read"):
        assert settings_from_environ({**base, "JWT_DEFAULT_SCOPES": value}).jwt_default_scopes == {SCOPE_READ}
    both = settings_from_environ({**base, "JWT_DEFAULT_SCOPES": "credentials:read, credentials:write"})
    assert both.jwt_default_scopes == READ_WRITE
    for value in ("credentials:admin", "credentials:read,everything", ","):
        with pytest.raises(ValueError, match="JWT_DEFAULT_SCOPES"):
            settings_from_environ({**base, "JWT_DEFAULT_SCOPES": value})


def test_jwks_cache_seconds_setting():
    base = {"TABLE_NAME": "t", "KMS_KEY_ARN": "k"}
    assert settings_from_environ(base).jwt_jwks_cache_seconds == 300
    assert settings_from_environ({**base, "JWT_JWKS_CACHE_SECONDS": "60"}).jwt_jwks_cache_seconds == 60
    with pytest.raises(ValueError):
        settings_from_environ({**base, "JWT_JWKS_CACHE_SECONDS": "0"})
