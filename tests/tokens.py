"""Bearer tokens as an identity provider mints them, for every tier: HS256 with the stack's
secret, RS256 with a JWKS key, and the unsigned `alg: none` an attacker would send."""

import time
from typing import Any

import jwt

LIFETIME_SECONDS = 300


def token(key: Any, *, algorithm: str = "HS256", kid: str | None = None, **claims: Any) -> str:
    """A token signed with `key` carrying `claims`; `exp` is LIFETIME_SECONDS from now unless
    given, and a claim given as None is left out (`exp=None`: a token that never expires)."""
    payload = {"exp": int(time.time()) + LIFETIME_SECONDS, **claims}
    payload = {name: value for name, value in payload.items() if value is not None}
    return jwt.encode(payload, key, algorithm=algorithm, headers={"kid": kid} if kid else None)


def unsigned(**claims: Any) -> str:
    """An `alg: none` token (no signature) that would otherwise be valid."""
    payload = {"exp": int(time.time()) + LIFETIME_SECONDS, **claims}
    return jwt.encode(payload, None, algorithm="none")


def bearer(value: str) -> dict[str, str]:
    """The Authorization header carrying a token."""
    return {"Authorization": f"Bearer {value}"}
