"""RS256 on a local stack of its own, against an identity provider on loopback whose JWKS an operator
edits: a key removed from the set is refused once the set is fetched again (a JWKS that is down,
and JWT_DEFAULT_SCOPES, are tests/integration/test_jwt_settings.py's).

Each test uses routes of its own: every route is its own function, whose instances keep their own
key set and cooldown (the stack serves sequential requests of a route from one warm instance).
"""

import time
import uuid
from collections.abc import Iterator

import pytest

from tests.identity_provider import AUDIENCE, ISSUER, IdentityProvider

from .conftest import (
    BASE,
    SEED_EXAMPLES,
    UNAUTHORIZED,
    Api,
    RunningStack,
    SecretLedger,
    free_port_pair,
    start_stack,
)

# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("test_jwks")

JWKS_CACHE_SECONDS = 1
# Past the set's lifetime (a sleep, not a measurement: what follows must see it expired).
SET_EXPIRED = JWKS_CACHE_SECONDS + 0.5
READ_WRITE = "credentials:read credentials:write"


@pytest.fixture(scope="module")
def idp() -> Iterator[IdentityProvider]:
    with IdentityProvider("k1", "k2").serving() as provider:
        yield provider


@pytest.fixture(scope="module")
def rs256_stack(tmp_path_factory: pytest.TempPathFactory, idp: IdentityProvider) -> Iterator[RunningStack]:
    port = free_port_pair()
    running = start_stack(
        tmp_path_factory.mktemp("rs256") / "stack.log",
        port,
        port + 1,
        LOCAL_REFRESH_INTERVAL_SECONDS="0",
        JWT_ALGORITHM="RS256",
        JWT_JWKS_URL=idp.jwks_url,
        JWT_ISSUER=ISSUER,
        JWT_AUDIENCE=AUDIENCE,
        JWT_JWKS_CACHE_SECONDS=str(JWKS_CACHE_SECONDS),
        JWT_DEFAULT_SCOPES="credentials:read",
    )
    # The settings the developer exported reach the functions, and the banner says so
    assert f"JWT claims required: iss={ISSUER} aud={AUDIENCE}" in running.banner, running.banner
    assert "without scope/scp a token may do: credentials:read (JWT_DEFAULT_SCOPES)" in running.banner
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


@pytest.fixture(scope="module")
def rs_api(rs256_stack: RunningStack, ledger: SecretLedger) -> Api:
    return Api(rs256_stack.base_url, ledger)


def test_a_signing_key_removed_from_the_jwks_is_refused_once_the_set_is_fetched_again(
    rs_api: Api, idp: IdentityProvider
) -> None:
    # Given warm instances that have verified tokens signed with k1, writes included
    org_id = str(uuid.uuid4())
    k1 = idp.bearer("k1", org_id=org_id, scope=READ_WRITE)
    k2 = idp.bearer("k2", org_id=org_id, scope=READ_WRITE)
    created = rs_api.create(k1, SEED_EXAMPLES["salesforce"])
    item = f"{BASE}/{created['id']}"
    assert rs_api.get(item, k1).status_code == 200
    assert rs_api.put(item, k1, json={"access_token": "written-with-k1"}).status_code == 200
    assert rs_api.get(BASE, k1).status_code == 200
    try:
        # When the identity provider removes k1 from its JWKS and the cached set expires
        idp.published.remove("k1")
        fetches = idp.fetches
        time.sleep(SET_EXPIRED)

        # Then every route refuses k1's tokens, writes included, and nothing is written
        hubspot = {**SEED_EXAMPLES["hubspot"], "access_token": "created-with-removed-k1"}
        refused = [
            rs_api.get(BASE, k1),
            rs_api.get(item, k1),
            rs_api.put(item, k1, json={"access_token": "written-with-removed-k1"}),
            rs_api.post(f"{BASE}/", k1, json=hubspot),
        ]
        for response in refused:
            assert (response.status_code, response.json()) == (401, UNAUTHORIZED), response.request.method
        # And k2, still in the set, keeps working: the set was fetched again
        current = rs_api.get(item, k2)
        assert current.status_code == 200
        assert current.json()["access_token"] == "written-with-k1"
        assert [c["provider"] for c in rs_api.get(BASE, k2).json()] == ["salesforce"]
        assert idp.fetches > fetches
    finally:
        idp.published.append("k1")
