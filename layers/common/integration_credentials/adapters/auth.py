"""Who is calling: an API key (`X-API-Key`) or a bearer JWT (`Authorization`), or both.

API keys are looked up by their SHA-256 and cached per process for `API_KEY_CACHE_SECONDS`
(60 s by default): that is the longest a revoked key keeps working on a warm Lambda.
JWTs are HS256 with a secret in an SSM SecureString (Powertools parameters, cached), or RS256
against a JWKS URL. The algorithm is pinned by configuration, `exp` is required, `iss`/`aud`
are checked when configured, and the `org_id` claim names the org.
"""

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from ..core.constants import API_KEY_PATTERN, ORG_ID_PATTERN
from ..core.errors import AuthenticationError, DependencyMisconfiguredError, DependencyUnavailableError
from ..core.settings import Settings, get_settings
from .parameters import secure_parameter
from .storage.api_keys import ApiKeyRepository, api_key_repository

if TYPE_CHECKING:
    from jwt import PyJWKClient
    from jwt.types import Options

_API_KEY_RE = re.compile(API_KEY_PATTERN)
_ORG_ID_RE = re.compile(ORG_ID_PATTERN)
_API_KEY_CACHE_LIMIT = 1024


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: its org, and which key or token subject it used."""

    org_id: str
    method: Literal["api_key", "jwt", "api_key+jwt", "scheduler"]
    subject: str


def hash_api_key(api_key: str) -> str:
    """The stored form of an API key (keys carry >=128 random bits, so a fast hash suffices)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def api_key_id(key_hash: str) -> str:
    """A short public name for a key, safe to log and show."""
    return key_hash[:16]


class ApiKeyVerifier:
    """Resolves API keys to orgs, caching positive answers for a bounded time."""

    def __init__(self, repository: ApiKeyRepository, ttl_seconds: float) -> None:
        self._repository = repository
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, str, str]] = {}
        self._lock = threading.Lock()

    def verify(self, api_key: str) -> Principal:
        """The principal of an active key; `AuthenticationError` otherwise."""
        if not _API_KEY_RE.fullmatch(api_key):
            raise AuthenticationError("malformed API key")
        key_hash = hash_api_key(api_key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return Principal(org_id=cached[1], method="api_key", subject=cached[2])
        found = self._repository.find_org(key_hash)
        if found is None:
            with self._lock:
                self._cache.pop(key_hash, None)
            raise AuthenticationError("unknown or revoked API key")
        org_id, key_id = found
        with self._lock:
            if len(self._cache) >= _API_KEY_CACHE_LIMIT:
                self._cache.clear()
            self._cache[key_hash] = (now + self._ttl, org_id, key_id)
        return Principal(org_id=org_id, method="api_key", subject=key_id)


class JwtVerifier:
    """Verifies bearer tokens with one pinned algorithm."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks: PyJWKClient | None = None

    def verify(self, token: str) -> Principal:
        """The principal named by a valid token's `org_id` claim; `AuthenticationError` otherwise."""
        import jwt  # only bearer requests pay for pyjwt (and its cryptography backends)

        settings = self._settings
        key = self._verification_key(token)
        options: Options = {"require": ["exp"], "verify_aud": settings.jwt_audience is not None}
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[settings.jwt_algorithm],
                options=options,
                audience=settings.jwt_audience,
                issuer=settings.jwt_issuer,
                leeway=settings.jwt_leeway_seconds,
            )
        except jwt.InvalidTokenError as error:
            raise AuthenticationError(f"invalid token: {type(error).__name__}") from None
        org_id = claims.get("org_id")
        if not isinstance(org_id, str) or not _ORG_ID_RE.fullmatch(org_id):
            raise AuthenticationError("token has no usable org_id claim")
        subject = claims.get("sub")
        return Principal(org_id=org_id, method="jwt", subject=subject if isinstance(subject, str) else "")

    def _verification_key(self, token: str) -> Any:
        import jwt

        settings = self._settings
        if settings.jwt_algorithm == "RS256":
            if settings.jwt_jwks_url is None:
                raise DependencyMisconfiguredError("JWT", "JwksUrlNotConfigured")
            if self._jwks is None:
                self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True, lifespan=300, timeout=5)
            try:
                return self._jwks.get_signing_key_from_jwt(token).key
            except jwt.PyJWKClientConnectionError as error:
                raise DependencyUnavailableError("JWKS", "ConnectionError") from error
            except jwt.exceptions.PyJWTError as error:
                raise AuthenticationError(f"no signing key: {type(error).__name__}") from None
        if settings.jwt_secret_parameter is None:
            raise DependencyMisconfiguredError("JWT", "SecretParameterNotConfigured")
        secret = secure_parameter(settings.jwt_secret_parameter, settings.jwt_secret_cache_seconds)
        return secret.encode()


class Authenticator:
    """Applies the header rules: either header alone, or both valid and naming the same org."""

    def __init__(self, api_keys: ApiKeyVerifier, tokens: JwtVerifier) -> None:
        self._api_keys = api_keys
        self._tokens = tokens

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The caller's principal; `AuthenticationError` for any missing or invalid credential."""
        lowered = {name.lower(): value for name, value in headers.items()}
        api_key = lowered.get("x-api-key")
        authorization = lowered.get("authorization")
        if api_key is None and authorization is None:
            raise AuthenticationError("no credentials")
        by_key = self._api_keys.verify(api_key.strip()) if api_key is not None else None
        by_token = self._tokens.verify(_bearer_token(authorization)) if authorization is not None else None
        if by_key is not None and by_token is not None:
            if by_key.org_id != by_token.org_id:
                raise AuthenticationError("API key and token name different orgs")
            return Principal(org_id=by_key.org_id, method="api_key+jwt", subject=by_key.subject)
        principal = by_key or by_token
        assert principal is not None
        return principal


def _bearer_token(authorization: str) -> str:
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("Authorization is not a bearer token")
    return token.strip()


@cache
def authenticator() -> Authenticator:
    """The process's authenticator (its caches live as long as the Lambda instance)."""
    settings = get_settings()
    return Authenticator(
        ApiKeyVerifier(api_key_repository(), settings.api_key_cache_seconds),
        JwtVerifier(settings),
    )
