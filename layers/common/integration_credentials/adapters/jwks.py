"""The signing keys of an identity provider's JWKS, fetched at most once per lifetime.

pyjwt's `PyJWKClient` fetches and parses the set (no redirects, http(s) only, a timeout); the
caching is ours, because pyjwt's per-`kid` cache never forgets a key the set dropped, and its
refetch cooldown starts only after a successful fetch. Here:
- the whole set is trusted for `lifetime` seconds after it was fetched; a key it no longer holds
  is refused as soon as a fetch replaces it;
- one fetch at a time: while one request fetches, the others use the set they have (if its last
  fetch succeeded and it holds their `kid`), or answer 503 at once;
- after any fetch, successful or not, no fetch for `cooldown` seconds on account of an unknown
  `kid`; after a failed one, no fetch at all: those requests answer 503 at once, with the time
  left as `Retry-After`.
"""

import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from ..core.errors import AuthenticationError, DependencyUnavailableError

# pyjwt's own refetch cooldown: bogus `kid`s cost the identity provider one fetch per this long.
COOLDOWN_SECONDS = 30.0
FETCH_TIMEOUT_SECONDS = 5.0

SigningKeys = Mapping[str, Any]


class JwksFetchError(Exception):
    """The set could not be fetched or was not a usable key set."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(code)


@dataclass(frozen=True, slots=True)
class _State:
    keys: SigningKeys | None = None
    fetched_at: float = -math.inf  # the last successful fetch
    attempted_at: float = -math.inf  # the last fetch, successful or not
    failure: str | None = None  # the last fetch's error code, if it failed


class JwksKeys:
    """Signing keys by `kid`, from `fetch`, cached as the module docstring says."""

    def __init__(
        self,
        fetch: Callable[[], SigningKeys],
        lifetime_seconds: float,
        cooldown_seconds: float = COOLDOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._lifetime = lifetime_seconds
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._state = _State()
        self._fetching = threading.Lock()

    def key(self, kid: object) -> Any:
        """The verification key named `kid`: `AuthenticationError` when the set does not hold it,
        `DependencyUnavailableError` when the set cannot be had now."""
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("token has no kid")
        state, now = self._state, self._clock()
        fresh = state.keys is not None and now - state.fetched_at < self._lifetime
        if fresh and state.keys is not None and kid in state.keys:
            return state.keys[kid]
        cooling = now - state.attempted_at < self._cooldown
        if cooling and (state.failure is not None or fresh):
            self._refuse(state, now)
        if not self._fetching.acquire(blocking=False):
            # Another request is fetching: its set replaces this one in a moment.
            if state.failure is None and state.keys is not None and kid in state.keys:
                return state.keys[kid]
            raise DependencyUnavailableError("JWKS", "FetchInProgress", retry_after=1)
        try:
            return self._fetch_and_find(kid)
        finally:
            self._fetching.release()

    def _fetch_and_find(self, kid: str) -> Any:
        attempted = self._clock()
        try:
            keys = self._fetch()
        except JwksFetchError as error:
            # A set still within its lifetime stays trusted; an expired one is not served.
            self._state = _State(self._state.keys, self._state.fetched_at, attempted, error.code)
            self._refuse(self._state, attempted)
        self._state = _State(keys, attempted, attempted, None)
        if kid not in keys:
            raise AuthenticationError("no signing key with this kid")
        return keys[kid]

    def _refuse(self, state: _State, now: float) -> NoReturn:
        if state.failure is None:
            raise AuthenticationError("no signing key with this kid")
        retry_after = max(1, math.ceil(state.attempted_at + self._cooldown - now))
        raise DependencyUnavailableError("JWKS", state.failure, retry_after=retry_after)


def fetch_signing_keys(url: str) -> Callable[[], SigningKeys]:
    """A fetch of the JWKS at `url` for `JwksKeys`: its signing keys (`use` sig or unset) by `kid`."""
    import jwt

    client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=FETCH_TIMEOUT_SECONDS)

    def fetch() -> SigningKeys:
        try:
            return {str(key.key_id): key.key for key in client.get_signing_keys(refresh=True)}
        except jwt.PyJWKClientConnectionError:
            raise JwksFetchError("ConnectionError") from None
        except (jwt.exceptions.PyJWKClientError, jwt.exceptions.PyJWKSetError, ValueError):
            # Not JSON, not an object, no usable signing key: the identity provider's to fix.
            raise JwksFetchError("InvalidKeySet") from None

    return fetch
