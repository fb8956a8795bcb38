"""Bearer tokens through the handlers under the JWT settings a deployment chooses: issuer and
audience required, JWT_DEFAULT_SCOPES, the `scope`/`scp` spellings, and a JWKS that is down or slow."""

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from integration_credentials.adapters.auth import JwtVerifier
from integration_credentials.core.errors import DependencyUnavailableError
from integration_credentials.core.settings import get_settings
from integration_credentials.http.errors import MISCONFIGURED_DETAIL

from tests.conftest import SEED_BODIES
from tests.identity_provider import AUDIENCE, ISSUER, IdentityProvider
from tests.integration.conftest import bearer, mint_key, reset_process_state

FORBIDDEN = {"detail": "You do not have permission to access this resource"}
JWKS_UNAVAILABLE = {"detail": "Service temporarily unavailable (JWKS); retry later"}
Configure = Callable[..., None]


@pytest.fixture
def configure(stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Configure]:
    """Set (or, with None, unset) function settings for one test, as a cold instance reads them."""

    def apply(**values: str | None) -> None:
        for name, value in values.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        reset_process_state()

    yield apply
    monkeypatch.undo()
    reset_process_state()


@pytest.mark.parametrize("unset", ["JWT_ISSUER", "JWT_AUDIENCE"])
def test_without_issuer_or_audience_every_bearer_token_is_the_misconfigured_500(
    api, stack, configure, org_id, unset
):
    # Given a deployment that names no issuer (or no audience)
    configure(**{unset: None})
    # When a token signed with the secret comes, whatever its claims
    for headers in (bearer(org_id), bearer(org_id, iss=None, aud=None)):
        reply = api.list(headers)
        # Then it is refused as the deployment's fault: 500, no Retry-After
        assert (reply.status, reply.json) == (500, {"detail": MISCONFIGURED_DETAIL})
        assert "Retry-After" not in reply.headers
    # And API keys keep working
    assert api.list({"X-API-Key": mint_key(stack, org_id)}).status == 200


def test_a_token_without_a_scope_claim_gets_jwt_default_scopes(api, configure, org_id):
    # Given a deployment whose tokens without a scope claim may only read (prod's samconfig)
    configure(JWT_DEFAULT_SCOPES="credentials:read")
    # Then such a token reads, and may not write or refresh
    assert api.list(bearer(org_id)).status == 200
    denied = api.create(bearer(org_id), SEED_BODIES["hubspot"])
    assert (denied.status, denied.json) == (403, FORBIDDEN)
    assert api.refresh(bearer(org_id), str(uuid.uuid4())).status == 403
    # And a token that names its scopes gets them
    assert api.create(bearer(org_id, scope="credentials:write"), SEED_BODIES["hubspot"]).status == 201


def test_without_the_setting_a_token_without_a_scope_claim_may_do_everything(api, org_id):
    created = api.create(bearer(org_id), SEED_BODIES["hubspot"])
    assert created.status == 201
    assert api.get(bearer(org_id), created.json["id"]).status == 200
    assert api.refresh(bearer(org_id), created.json["id"]).status == 409  # not refreshable: no token


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "credentials:read"},
        {"scope": ["credentials:read"]},
        {"scp": "credentials:read openid"},
        {"scp": ["credentials:read", "openid"]},
    ],
)
def test_scope_and_scp_as_a_string_or_an_array(api, org_id, claims):
    # Given a read-only token, in any of the spellings identity providers use
    # Then it reads, and may not write
    assert api.list(bearer(org_id, **claims)).status == 200
    denied = api.create(bearer(org_id, **claims), SEED_BODIES["hubspot"])
    assert (denied.status, denied.json) == (403, FORBIDDEN)


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider("k1").serving() as provider:
        yield provider


def rs256(configure: Configure, idp: IdentityProvider) -> None:
    configure(JWT_ALGORITHM="RS256", JWT_JWKS_URL=idp.jwks_url, JWT_ISSUER=ISSUER, JWT_AUDIENCE=AUDIENCE)


def test_a_down_jwks_is_fetched_once_not_by_every_request(api, configure, idp):
    # Given an RS256 deployment whose identity provider is down
    rs256(configure, idp)
    idp.down = True
    # When tokens with made-up kids come, and then a real one
    tokens = [idp.bearer(f"bogus-{index}") for index in range(4)] + [idp.bearer("k1")]
    replies = [api.list(headers) for headers in tokens]
    # Then each is a 503 with Retry-After, and only the first one fetched
    for reply in replies:
        assert (reply.status, reply.json) == (503, JWKS_UNAVAILABLE)
        assert 1 <= int(reply.headers["Retry-After"]) <= 30
    assert idp.fetches == 1
    # And the cooldown holds even once the provider is back (the next fetch is after Retry-After)
    idp.down = False
    assert api.list(idp.bearer("k1")).status == 503
    assert idp.fetches == 1


def test_concurrent_tokens_against_a_slow_jwks_cause_one_fetch(configure, idp):
    # Given an instance's verifier and an identity provider that holds its answer
    rs256(configure, idp)
    verifier = JwtVerifier(get_settings())
    idp.hold.clear()
    barrier = threading.Barrier(6)

    def verify(token: str) -> str:
        barrier.wait()
        try:
            return verifier.verify(token).org_id
        except DependencyUnavailableError:
            return "503"

    # When six requests with a valid token come at once
    with ThreadPoolExecutor(max_workers=6) as pool:
        futures = [pool.submit(verify, idp.token("k1")) for _ in range(6)]
        try:
            # Then five answer 503 at once, while the one fetch waits for the provider
            answered_at_once = []
            for future in as_completed(futures, timeout=20):
                answered_at_once.append(future.result())
                if len(answered_at_once) == 5:
                    break
        finally:
            idp.hold.set()
        results = sorted(future.result(timeout=20) for future in futures)
    assert answered_at_once == ["503"] * 5
    assert results == ["503"] * 5 + ["org-rs"]
    assert idp.fetches == 1
