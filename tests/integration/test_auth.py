"""Authentication on every route: API keys, HS256/RS256 bearer tokens, and both together."""

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from integration_credentials.adapters.auth import (
    ApiKeyVerifier,
    Authenticator,
    JwtVerifier,
    api_key_id,
    hash_api_key,
)
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from integration_credentials.core.errors import (
    AuthenticationError,
    DependencyMisconfiguredError,
    DependencyUnavailableError,
)
from integration_credentials.core.settings import Settings

from tests import tokens
from tests.conftest import SEED_BODIES
from tests.identity_provider import AUDIENCE, ISSUER, IdentityProvider
from tests.integration.conftest import (
    AUTHENTICATED_FUNCTIONS,
    JWT_AUDIENCE,
    JWT_ISSUER,
    JWT_SECRET,
    bearer,
    call_route,
    mint_key,
    reset_process_state,
)

UNAUTHORIZED = {"detail": "Invalid or missing authentication credentials"}
ROUTES = AUTHENTICATED_FUNCTIONS


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def bad_credentials(org_id):
    now = int(time.time())
    return {
        "no headers": {},
        "empty api key": {"X-API-Key": ""},
        "unknown api key": {"X-API-Key": "sk_live_" + "A" * 40},
        "malformed api key": {"X-API-Key": "not-a-key"},
        "expired jwt": bearer(org_id, exp=now - 3600),
        "jwt without exp": bearer(org_id, exp=None),
        "jwt with another secret": bearer(org_id, secret="another-secret-of-sufficient-length-123"),
        "jwt alg none": tokens.bearer(tokens.unsigned(org_id=org_id)),
        "jwt without iss": bearer(org_id, iss=None),
        "jwt without aud": bearer(org_id, aud=None),
        "jwt of another issuer": bearer(org_id, iss="another-service"),
        "jwt for another audience": bearer(org_id, aud="another-api"),
        "jwt with a scope object": bearer(org_id, scope={"credentials:read": True}),
        "jwt with a scp number": bearer(org_id, scp=7),
        "jwt without org_id": bearer(None),
        "jwt with reserved org_id": bearer("APIKEY#abc"),
        "jwt with non-string org_id": bearer(12345),
        "basic auth": {"Authorization": "Basic dXNlcjpwYXNz"},
        "bearer without token": {"Authorization": "Bearer "},
        "garbage bearer": {"Authorization": "Bearer not.a.jwt"},
    }  # fmt: skip


@pytest.mark.parametrize("function", ROUTES)
def test_every_route_rejects_missing_or_invalid_credentials(api, org_id, function):
    for case, headers in bad_credentials(org_id).items():
        reply = call_route(api, function, headers)
        assert (reply.status, reply.json) == (401, UNAUTHORIZED), case


@pytest.mark.parametrize("function", ROUTES)
def test_401_comes_before_validation_and_not_found(api, function):
    reply = call_route(api, function, {}, credentials_id="not-a-uuid", body=["not", "an", "object"])
    assert (reply.status, reply.json) == (401, UNAUTHORIZED)


@pytest.mark.parametrize("function", ROUTES)
def test_a_revoked_key_is_401_on_every_route(api, stack, org_id, function):
    repository = ApiKeyRepository(stack.resources.api_keys_table_name, stack.dynamodb)
    key = mint_key(stack, org_id)
    assert repository.revoke(hash_api_key(key), "2026-01-01T00:00:00.000000Z")
    reset_process_state()  # a cold instance: nothing cached
    assert call_route(api, function, {"X-API-Key": key}).status == 401


CRUD_FUNCTIONS = [
    "create_credentials",
    "list_credentials",
    "get_credentials_by_provider",
    "get_credentials",
    "update_credentials",
    "delete_credentials",
]


@pytest.mark.parametrize("function", CRUD_FUNCTIONS)
def test_a_valid_jwt_alone_works_on_every_route(api, org_id, function):
    # Given an org that only has JWTs (no API key) and stored Salesforce credentials
    stored = api.create(bearer(org_id), SEED_BODIES["salesforce"]).json
    # When the route is called with a bearer token only
    body = {
        "create_credentials": SEED_BODIES["pipedrive"],
        "update_credentials": {"access_token": "jwt-token"},
    }
    reply = call_route(api, function, bearer(org_id), stored["id"], body=body.get(function))
    # Then it succeeds, for that org
    assert reply.status == (201 if function == "create_credentials" else 200), reply.raw
    if function in {"get_credentials", "get_credentials_by_provider"}:
        assert reply.json == stored
    if function == "list_credentials":
        assert reply.json == [stored]
    if function == "update_credentials":
        assert reply.json["access_token"] == "jwt-token"
    if function == "create_credentials":
        assert reply.json["org_id"] == org_id


def test_api_key_and_jwt_of_the_same_org_work_together(api, stack, org_id):
    headers = {"X-API-Key": mint_key(stack, org_id), **bearer(org_id)}
    assert api.list(headers).status == 200


@pytest.mark.parametrize("function", ROUTES)
def test_api_key_and_jwt_of_different_orgs_are_401(api, stack, org_id, function):
    headers = {"X-API-Key": mint_key(stack, org_id), **bearer(f"org-{uuid.uuid4()}")}
    assert (call_route(api, function, headers).json, call_route(api, function, headers).status) == (
        UNAUTHORIZED,
        401,
    )


def test_a_valid_key_with_an_invalid_jwt_is_401(api, stack, org_id):
    headers = {
        "X-API-Key": mint_key(stack, org_id),
        **bearer(org_id, secret="wrong-secret-wrong-secret-wrong-secret"),
    }
    assert api.list(headers).status == 401


# Verifier-level checks with settings the handlers are not deployed with.


def settings(**overrides):
    base = {
        "table_name": "unused",
        "kms_key_arn": "unused",
        "jwt_secret_parameter": "/integration-credentials/dev/jwt-secret",
        "jwt_issuer": JWT_ISSUER,
        "jwt_audience": JWT_AUDIENCE,
    }
    return Settings.validate({**base, **overrides})


def test_issuer_and_audience_are_checked_when_configured(stack):
    verifier = JwtVerifier(settings(jwt_issuer="https://auth.example", jwt_audience="credentials-api"))
    good = bearer("org-1", iss="https://auth.example", aud="credentials-api")["Authorization"].split()[1]
    assert verifier.verify(good).org_id == "org-1"
    for claims in ({"iss": "https://evil.example", "aud": "credentials-api"},
                   {"iss": "https://auth.example", "aud": "other-api"},
                   {"aud": "credentials-api"}):  # fmt: skip
        token = bearer("org-1", **claims)["Authorization"].split()[1]
        with pytest.raises(AuthenticationError):
            verifier.verify(token)


@pytest.mark.parametrize("unset", [{"jwt_issuer": None}, {"jwt_audience": None}])
def test_hs256_without_issuer_or_audience_refuses_every_token_as_misconfigured(stack, unset):
    token = bearer("org-1", iss="anything", aud="anything")["Authorization"].split()[1]
    with pytest.raises(DependencyMisconfiguredError):
        JwtVerifier(settings(**unset)).verify(token)


@pytest.fixture(scope="module")
def rsa_setup():
    with IdentityProvider("k1").serving() as idp:
        yield idp.private_key("k1"), idp.jwks_url


def rs256_settings(url, **overrides):
    base = {"jwt_algorithm": "RS256", "jwt_jwks_url": url, "jwt_secret_parameter": None}
    return settings(**{**base, "jwt_issuer": ISSUER, "jwt_audience": AUDIENCE, **overrides})


def rs_claims(**claims):
    base = {"org_id": "org-rs", "sub": "svc", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}
    return {k: v for k, v in {**base, **claims}.items() if v is not None}


def test_rs256_through_jwks(rsa_setup):
    key, url = rsa_setup
    verifier = JwtVerifier(rs256_settings(url))
    token = tokens.token(key, algorithm="RS256", kid="k1", **rs_claims())
    assert verifier.verify(token).org_id == "org-rs"


def test_rs256_refuses_another_applications_tokens(rsa_setup):
    # Given an identity provider that signs tokens for other audiences and issuers too
    key, url = rsa_setup
    verifier = JwtVerifier(rs256_settings(url))
    for claims in (rs_claims(aud="another-app"), rs_claims(iss="https://other.example"), rs_claims(aud=None)):
        token = tokens.token(key, algorithm="RS256", kid="k1", **claims)
        with pytest.raises(AuthenticationError):
            verifier.verify(token)


@pytest.mark.parametrize(
    "missing", [{"jwt_issuer": None}, {"jwt_audience": None}, {"jwt_issuer": None, "jwt_audience": None}]
)
def test_rs256_settings_without_issuer_or_audience_fail_at_start(missing):
    with pytest.raises(ValueError, match="JWT_ALGORITHM=RS256 needs") as raised:
        rs256_settings("https://idp.example/jwks.json", **missing)
    for name, environment in (("jwt_issuer", "JWT_ISSUER"), ("jwt_audience", "JWT_AUDIENCE")):
        assert (environment in str(raised.value)) == (name in missing)


@pytest.mark.parametrize(
    "url",
    [
        "http://idp.example/jwks.json",
        "ftp://idp.example/jwks.json",
        "http://10.0.0.1/jwks",
        "idp.example/jwks",
    ],
)
def test_a_jwks_url_that_is_not_https_is_refused(url):
    with pytest.raises(ValueError, match="JWT_JWKS_URL must be an https:// URL"):
        rs256_settings(url)


def test_a_loopback_jwks_url_may_be_http():
    assert rs256_settings("http://127.0.0.1:8080/jwks.json").jwt_jwks_url.startswith("http://127.0.0.1")


def test_a_token_without_sub_is_refused():
    with pytest.raises(AuthenticationError):
        JwtVerifier(settings()).verify(bearer("org-1", sub=None)["Authorization"].split()[1])
    with pytest.raises(AuthenticationError):
        JwtVerifier(settings()).verify(bearer("org-1", sub="  ")["Authorization"].split()[1])


def test_max_age_requires_iat_and_refuses_older_tokens():
    verifier = JwtVerifier(settings(jwt_max_age_seconds=300, jwt_leeway_seconds=0))
    now = int(time.time())
    assert verifier.verify(bearer("org-1", iat=now - 10)["Authorization"].split()[1]).org_id == "org-1"
    for claims in ({"iat": now - 301}, {}, {"iat": "yesterday"}):
        with pytest.raises(AuthenticationError):
            verifier.verify(bearer("org-1", **claims)["Authorization"].split()[1])
    # Without the setting, a token needs no iat.
    assert JwtVerifier(settings()).verify(bearer("org-1")["Authorization"].split()[1]).org_id == "org-1"


def test_no_rs_hs_confusion(rsa_setup):
    key, url = rsa_setup
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = rs_claims()
    # An HS256 token whose HMAC key is the public key (pyjwt refuses to make one, so by hand)
    # must not pass an RS256 verifier...
    signing_input = (
        b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
        + "."
        + b64(json.dumps(claims).encode())
    )
    forged = signing_input + "." + b64(hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest())
    rs_verifier = JwtVerifier(rs256_settings(url))
    with pytest.raises(AuthenticationError):
        rs_verifier.verify(forged)
    # ...and an RS256 token must not pass the HS256 verifier.
    rs_token = tokens.token(key, algorithm="RS256", kid="k1", **claims)
    with pytest.raises(AuthenticationError):
        JwtVerifier(settings()).verify(rs_token)


def test_jwks_unreachable_is_a_dependency_failure():
    verifier = JwtVerifier(rs256_settings("http://127.0.0.1:9/jwks.json"))
    token = tokens.token("k" * 32, kid="k1", **rs_claims())
    with pytest.raises(DependencyUnavailableError):
        verifier.verify(token)


def test_revocation_takes_effect_within_the_cache_ttl(stack, org_id):
    # Given a verifier with a 1 s cache that has seen a key
    repository = ApiKeyRepository(stack.resources.api_keys_table_name, stack.dynamodb)
    key = mint_key(stack, org_id)
    verifier = Authenticator(ApiKeyVerifier(repository, ttl_seconds=1), JwtVerifier(settings()))
    assert verifier.authenticate({"x-api-key": key}).org_id == org_id
    # When the key is revoked
    assert repository.revoke(hash_api_key(key), "2026-01-01T00:00:00.000000Z")
    # Then it is accepted at most until the cache entry expires, and refused after
    time.sleep(1.1)
    with pytest.raises(AuthenticationError):
        verifier.authenticate({"x-api-key": key})


def test_api_keys_are_stored_only_as_hashes_in_their_own_table(stack, org_id):
    key = mint_key(stack, org_id)
    keys_table = stack.dynamodb.scan(TableName=stack.resources.api_keys_table_name)["Items"]
    for items in (stack.scan(), keys_table):
        assert not any(key in json.dumps(item, default=str) for item in items)
    key_items = [i for i in keys_table if i["key_hash"]["S"] == hash_api_key(key)]
    assert len(key_items) == 1
    assert key_items[0]["key_id"]["S"] == api_key_id(hash_api_key(key))
    assert key_items[0]["org_id"]["S"] == org_id
    assert not any(hash_api_key(key) in json.dumps(item, default=str) for item in stack.scan())
    assert len(key) >= len("sk_live_") + 32


def test_jwt_secret_comes_from_ssm(stack):
    assert JWT_SECRET  # the stack put it in SSM; a token signed with it verifies
    token = bearer("org-ssm")["Authorization"].split()[1]
    assert JwtVerifier(settings()).verify(token).org_id == "org-ssm"
