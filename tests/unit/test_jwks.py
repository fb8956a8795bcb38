"""The JWKS cache: a set trusted for its lifetime, one fetch at a time, a cooldown after every fetch."""

import threading
from concurrent.futures import ThreadPoolExecutor, as_completed

import pytest
from integration_credentials.adapters.jwks import COOLDOWN_SECONDS, JwksFetchError, JwksKeys
from integration_credentials.core.errors import AuthenticationError, DependencyUnavailableError

LIFETIME = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Jwks:
    """An identity provider's key set that an operator edits; counts the fetches."""

    def __init__(self, *kids: str) -> None:
        self.keys = {kid: f"key-{kid}" for kid in kids}
        self.fetches = 0
        self.down = False

    def fetch(self) -> dict[str, str]:
        self.fetches += 1
        if self.down:
            raise JwksFetchError("ConnectionError")
        return dict(self.keys)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def keys_of(jwks: Jwks, clock: Clock, lifetime: float = LIFETIME) -> JwksKeys:
    return JwksKeys(jwks.fetch, lifetime, clock=clock)


def test_a_key_removed_from_the_set_is_refused_once_the_set_is_fetched_again(clock):
    # Given a warm cache that has verified tokens of k1
    jwks = Jwks("k1", "k2")
    keys = keys_of(jwks, clock)
    assert keys.key("k1") == "key-k1"
    # When k1 leaves the set, it stays trusted only while the fetched set lives
    del jwks.keys["k1"]
    clock.now += LIFETIME - 1
    assert keys.key("k1") == "key-k1"
    assert jwks.fetches == 1
    # Then once the set has expired and is fetched again, k1 is refused and k2 still works
    clock.now += 1
    with pytest.raises(AuthenticationError):
        keys.key("k1")
    assert keys.key("k2") == "key-k2"
    assert jwks.fetches == 2


def test_an_unknown_kid_fetches_at_most_once_per_cooldown(clock):
    jwks = Jwks("k1")
    keys = keys_of(jwks, clock)
    keys.key("k1")
    clock.now += COOLDOWN_SECONDS
    # A new key of the identity provider is found by one fetch...
    jwks.keys["k2"] = "key-k2"
    assert keys.key("k2") == "key-k2"
    assert jwks.fetches == 2
    # ...and bogus kids within the cooldown are refused without fetching
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            keys.key("bogus")
    assert jwks.fetches == 2
    clock.now += COOLDOWN_SECONDS
    with pytest.raises(AuthenticationError):
        keys.key("bogus")
    assert jwks.fetches == 3


def test_a_failed_fetch_is_not_retried_by_every_request(clock):
    # Given an identity provider that is down
    jwks = Jwks("k1")
    jwks.down = True
    keys = keys_of(jwks, clock)
    # When many requests come within the cooldown
    for _ in range(4):
        with pytest.raises(DependencyUnavailableError) as raised:
            keys.key("k1")
        # Then each is a 503 that says when to retry
        assert raised.value.dependency == "JWKS"
        assert raised.value.retry_after == COOLDOWN_SECONDS
    # And only the first fetched
    assert jwks.fetches == 1
    clock.now += COOLDOWN_SECONDS - 0.5
    with pytest.raises(DependencyUnavailableError) as raised:
        keys.key("k1")
    assert raised.value.retry_after == 1
    assert jwks.fetches == 1
    # And once the cooldown is over and the provider is back, the next request fetches
    clock.now += 0.5
    jwks.down = False
    assert keys.key("k1") == "key-k1"
    assert jwks.fetches == 2


def test_a_failed_refetch_keeps_the_fresh_set_and_refuses_what_it_cannot_check(clock):
    jwks = Jwks("k1")
    keys = keys_of(jwks, clock)
    keys.key("k1")
    clock.now += COOLDOWN_SECONDS
    jwks.down = True
    # An unknown kid while the provider is down: 503 (it may be a key the provider just added)
    with pytest.raises(DependencyUnavailableError):
        keys.key("k2")
    # The set fetched before still lives: its keys still verify, without fetching
    assert keys.key("k1") == "key-k1"
    with pytest.raises(DependencyUnavailableError):
        keys.key("k2")
    assert jwks.fetches == 2


def test_an_expired_set_is_not_served_when_the_fetch_fails(clock):
    jwks = Jwks("k1")
    keys = keys_of(jwks, clock)
    keys.key("k1")
    clock.now += LIFETIME
    jwks.down = True
    for _ in range(3):
        with pytest.raises(DependencyUnavailableError):
            keys.key("k1")
    assert jwks.fetches == 2


def test_a_set_that_expires_within_the_cooldown_is_fetched_again(clock):
    jwks = Jwks("k1", "k2")
    keys = keys_of(jwks, clock, lifetime=1)
    keys.key("k1")
    del jwks.keys["k1"]
    clock.now += 1
    with pytest.raises(AuthenticationError):
        keys.key("k1")
    assert jwks.fetches == 2


@pytest.mark.parametrize("kid", [None, "", 7, ["k1"]])
def test_a_token_without_a_usable_kid_is_refused_without_fetching(clock, kid):
    jwks = Jwks("k1")
    with pytest.raises(AuthenticationError):
        keys_of(jwks, clock).key(kid)
    assert jwks.fetches == 0


def test_concurrent_requests_share_one_fetch(clock):
    # Given an identity provider that answers slowly
    release = threading.Event()
    jwks = Jwks("k1")

    def slow_fetch() -> dict[str, str]:
        release.wait(timeout=30)
        return jwks.fetch()

    keys = JwksKeys(slow_fetch, LIFETIME, clock=clock)
    barrier = threading.Barrier(8)

    def verify(kid: str) -> str:
        barrier.wait()
        try:
            return str(keys.key(kid))
        except DependencyUnavailableError as error:
            return f"503 {error.retry_after}"

    # When eight requests need the set at once
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(verify, "k1") for _ in range(8)]
        try:
            # Then seven answer 503 at once, while the one fetch still waits for the provider
            answered_at_once = []
            for future in as_completed(futures, timeout=10):
                answered_at_once.append(future.result())
                if len(answered_at_once) == 7:
                    break
        finally:
            release.set()
        results = [future.result(timeout=10) for future in futures]
    assert answered_at_once == ["503 1"] * 7
    assert sorted(results) == ["503 1"] * 7 + ["key-k1"]
    assert jwks.fetches == 1
