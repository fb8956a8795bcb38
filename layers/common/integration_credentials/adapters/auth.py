"""Who is calling: an API key (`X-API-Key`) or a bearer JWT (`Authorization`), or both.

API keys are looked up by their SHA-256 and cached per process for `API_KEY_CACHE_SECONDS`
(60 s by default): that is the longest a revoked key keeps working on a warm Lambda. Unknown
hashes are remembered for `API_KEY_NEGATIVE_CACHE_SECONDS`, so made-up keys cost one read each.
JWTs are HS256 with a secret in an SSM SecureString (Powertools parameters, cached), or RS256
against a JWKS URL (`jwks.JwksKeys`). The algorithm is pinned by configuration; `exp`, `sub`,
`iss` and `aud` are required and `iss`/`aud` must be the configured ones (a deployment without
them refuses every token as misconfigured); with `JWT_MAX_AGE_SECONDS`, `iat` is required and
older tokens are refused; the `org_id` claim names the org and the `scope` (or `scp`) claim what
the token may do, `JWT_DEFAULT_SCOPES` without one.
"""

import hashlib
import re
import threading
import time
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit

from ..core.constants import ALL_SCOPES, API_KEY_PATTERN, ORG_ID_PATTERN
from ..core.errors import AuthenticationError, DependencyMisconfiguredError
from ..core.frozen import Frozen, set_field
from ..core.settings import Settings, get_settings
from .observability import logger, metrics
from .parameters import secure_parameter
from .storage.api_keys import ApiKeyRecord, ApiKeyRepository, InvalidKeyRecordError, api_key_repository

if TYPE_CHECKING:
    from jwt.types import Options

    from .jwks import JwksKeys

_API_KEY_RE = re.compile(API_KEY_PATTERN)
_ORG_ID_RE = re.compile(ORG_ID_PATTERN)
_API_KEY_CACHE_LIMIT = 1024
_UNKNOWN_KEY_CACHE_LIMIT = 10_000


class Principal(Frozen):
    """An authenticated caller: its org, and which key or token subject it used."""

    __slots__ = ("method", "org_id", "scopes", "subject")

    org_id: str
    method: Literal["api_key", "jwt", "api_key+jwt", "scheduler"]
    subject: str
    scopes: frozenset[str]

    def __init__(
        self,
        org_id: str,
        method: Literal["api_key", "jwt", "api_key+jwt", "scheduler"],
        subject: str,
        scopes: frozenset[str] = ALL_SCOPES,
    ) -> None:
        set_field(self, "org_id", org_id)
        set_field(self, "method", method)
        set_field(self, "subject", subject)
        set_field(self, "scopes", scopes)


def hash_api_key(api_key: str) -> str:
    """The stored form of an API key (keys carry >=128 random bits, so a fast hash suffices)."""
    return hashlib.sha256(api_key.encode()).hexdigest()


def api_key_id(key_hash: str) -> str:
    """A short public name for a key, safe to log and show."""
    return key_hash[:16]


class ApiKeyVerifier:
    """Resolves API keys to orgs, caching answers for a bounded time: a known key's for `ttl`,
    an unknown key's for `unknown_ttl` (both caches bounded in size)."""

    def __init__(
        self, repository: ApiKeyRepository, ttl_seconds: float, unknown_ttl_seconds: float = 0
    ) -> None:
        self._repository = repository
        self._ttl = ttl_seconds
        self._unknown_ttl = unknown_ttl_seconds
        # key hash -> (until, its principal): frozen, so every warm request shares one.
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._unknown: dict[str, float] = {}
        self._lock = threading.Lock()

    def verify(self, api_key: str) -> Principal:
        """The principal of an active key; `AuthenticationError` otherwise."""
        if not _API_KEY_RE.fullmatch(api_key):
            raise AuthenticationError("malformed API key")
        key_hash = hash_api_key(api_key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_hash)
            unknown_until = self._unknown.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        if unknown_until is not None and unknown_until > now:
            raise AuthenticationError("unknown or revoked API key")
        try:
            record = self._repository.find(key_hash)
        except InvalidKeyRecordError as error:
            # Whoever can write the keys table wrote this: refused, and an operator should know.
            logger.error(
                "API key record refused", extra={"reason": error.reason, "key_id": api_key_id(key_hash)}
            )
            metrics.add_metric(name="InvalidApiKeyRecord", unit=MetricUnit.Count, value=1)
            record = None
        if record is None:
            with self._lock:
                self._cache.pop(key_hash, None)
                if self._unknown_ttl > 0:
                    if len(self._unknown) >= _UNKNOWN_KEY_CACHE_LIMIT:
                        self._unknown.clear()
                    self._unknown[key_hash] = now + self._unknown_ttl
            raise AuthenticationError("unknown or revoked API key")
        with self._lock:
            if len(self._cache) >= _API_KEY_CACHE_LIMIT:
                self._cache.clear()
            principal = _key_principal(record)
            self._cache[key_hash] = (now + self._ttl, principal)
        return principal

    def clear_caches(self) -> None:
        """Forget every cached answer, known and unknown keys alike (the next read of each key
        goes to the table)."""
        with self._lock:
            self._cache.clear()
            self._unknown.clear()


def _key_principal(record: ApiKeyRecord) -> Principal:
    return Principal(org_id=record.org_id, method="api_key", subject=record.key_id, scopes=record.scopes)


class JwtVerifier:
    """Verifies bearer tokens with one pinned algorithm."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._jwks: JwksKeys | None = None

    def verify(self, token: str) -> Principal:
        """The principal named by a valid token's `org_id` claim; `AuthenticationError` otherwise."""
        import jwt  # only bearer requests pay for pyjwt (and its cryptography backends)

        settings = self._settings
        # Without both, any token signed with the secret (or by the identity provider, for any
        # application) would pass: the deployment is wrong, and no token is accepted.
        if not settings.jwt_issuer:
            raise DependencyMisconfiguredError("JWT", "IssuerNotConfigured")
        if not settings.jwt_audience:
            raise DependencyMisconfiguredError("JWT", "AudienceNotConfigured")
        key = self._verification_key(token)
        required = ["exp", "sub", "iss", "aud"] + (["iat"] if settings.jwt_max_age_seconds else [])
        options: Options = {"require": required}
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
        if not isinstance(subject, str) or not subject.strip():
            raise AuthenticationError("token has no usable sub claim")
        max_age = settings.jwt_max_age_seconds
        if max_age is not None:
            issued = claims.get("iat")
            if (
                not isinstance(issued, int | float)
                or time.time() - issued > max_age + settings.jwt_leeway_seconds
            ):
                raise AuthenticationError("token is older than JWT_MAX_AGE_SECONDS")
        return Principal(
            org_id=org_id,
            method="jwt",
            subject=subject,
            scopes=token_scopes(claims, settings.jwt_default_scopes),
        )

    def clear_caches(self) -> None:
        """Forget the JWKS and what it remembers of fetches (the HS256 secret is cached by
        `parameters`)."""
        self._jwks = None

    def _verification_key(self, token: str) -> Any:
        import jwt

        settings = self._settings
        if settings.jwt_algorithm == "RS256":
            if settings.jwt_jwks_url is None:
                raise DependencyMisconfiguredError("JWT", "JwksUrlNotConfigured")
            if self._jwks is None:
                # Only RS256 deployments fetch a key set: the others never load its module.
                from .jwks import JwksKeys, fetch_signing_keys

                self._jwks = JwksKeys(
                    fetch_signing_keys(settings.jwt_jwks_url), settings.jwt_jwks_cache_seconds
                )
            try:
                kid = jwt.get_unverified_header(token).get("kid")
            except jwt.InvalidTokenError as error:
                raise AuthenticationError(f"invalid token: {type(error).__name__}") from None
            return self._jwks.key(kid)
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
            # Both were presented: the caller may do what both allow.
            return Principal(
                org_id=by_key.org_id,
                method="api_key+jwt",
                subject=by_key.subject,
                scopes=by_key.scopes & by_token.scopes,
            )
        principal = by_key or by_token
        assert principal is not None
        return principal

    def clear_caches(self) -> None:
        """Forget what both verifiers remember."""
        self._api_keys.clear_caches()
        self._tokens.clear_caches()


def token_scopes(claims: Mapping[str, object], default: frozenset[str]) -> frozenset[str]:
    """The scopes a token grants: its `scope` claim (RFC 8693, RFC 9068), else its `scp` claim
    (Entra ID, Okta), each a space-separated string or a JSON array of strings; `default` when it
    has neither. Unknown names grant nothing; a claim of another shape is refused."""
    for name in ("scope", "scp"):
        claim = claims.get(name)
        if claim is None:
            continue
        if isinstance(claim, str):
            return frozenset(claim.split()) & ALL_SCOPES
        if isinstance(claim, list) and all(isinstance(item, str) for item in claim):
            return frozenset(claim) & ALL_SCOPES
        raise AuthenticationError(f"token {name} claim is neither a string nor a list of strings")
    return default


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
        ApiKeyVerifier(
            api_key_repository(), settings.api_key_cache_seconds, settings.api_key_negative_cache_seconds
        ),
        JwtVerifier(settings),
    )


def clear_authentication_caches() -> None:
    """Forget the process authenticator's cached keys and JWKS, if it was made (it is not made here
    when it was not: making it builds a DynamoDB client)."""
    if authenticator.cache_info().currsize:
        authenticator().clear_caches()
