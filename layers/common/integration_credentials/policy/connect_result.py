"""The signed result of a connect flow: what the OAuth callback sends back to the return URL, in
one query parameter (`connect_result`), beside the plain `credentials_id`, `provider` and
`status`/`error`.

It is a compact JWS (HS256, pyjwt) under a key of the deployment (CONNECT_RESULT_KEY_PARAMETER,
an SSM SecureString the platform can read too), with the outcome, the org, the `end_user` given
at step 1, the state's hash (`state_hash` of step 1's answer) and when it was issued. The
platform's return page verifies it (`verify_connect_result`) and compares `end_user` and
`state_hash` with its own session: a browser that brings back a link made for someone else, or
parameters typed by hand, is refused there (account-linking CSRF).
"""

import hmac
import time
from dataclasses import dataclass
from typing import Any, Final

RESULT_PARAMETER: Final = "connect_result"
ISSUER: Final = "integration-credentials/connect"
ALGORITHM: Final = "HS256"
# How long a result is valid: the browser follows the 303 at once; a result older than this is
# a replayed or stored URL.
LIFETIME_SECONDS: Final = 300
# HS256 needs a key at least as long as its hash (RFC 7518 section 3.2).
MIN_KEY_BYTES: Final = 32
LEEWAY_SECONDS: Final = 30
_OUTCOME_CLAIMS: Final = ("credentials_id", "status", "error", "end_user")


class ConnectResultError(Exception):
    """A `connect_result` that must not be trusted: bad signature, expired, malformed, or not
    the one the page expected (its `end_user` or `state_hash` differ)."""


@dataclass(frozen=True, slots=True)
class ConnectResult:
    """The outcome of one connect flow, as signed. `status` is `connected` on success, None
    otherwise, when `error` names what went wrong; `end_user` is step 1's, if it gave one."""

    org_id: str
    provider: str
    state_hash: str
    issued_at: int
    credentials_id: str | None = None
    status: str | None = None
    error: str | None = None
    end_user: str | None = None


def _key_bytes(key: str | bytes) -> bytes:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"the connect result key must be at least {MIN_KEY_BYTES} bytes")
    return raw


def sign_connect_result(result: ConnectResult, key: str | bytes) -> str:
    """The compact JWS of `result` (expires LIFETIME_SECONDS after `result.issued_at`)."""
    import jwt  # only the OAuth callback signs: it loads pyjwt at init, step 1 never does

    claims: dict[str, Any] = {
        "iss": ISSUER,
        "iat": result.issued_at,
        "exp": result.issued_at + LIFETIME_SECONDS,
        "org_id": result.org_id,
        "provider": result.provider,
        "state_hash": result.state_hash,
    }
    for name in _OUTCOME_CLAIMS:
        value = getattr(result, name)
        if value is not None:
            claims[name] = value
    return jwt.encode(claims, _key_bytes(key), algorithm=ALGORITHM)


def verify_connect_result(
    token: str,
    key: str | bytes,
    *,
    end_user: str | None,
    state_hash: str,
    max_age_seconds: int = LIFETIME_SECONDS,
) -> ConnectResult:
    """The result a return page was sent, once checked: signed with `key` (HS256 only), issued by
    the connect flow, not expired and at most `max_age_seconds` old, for this `end_user` (the one
    the page's session holds; None: the link was made without one) and this `state_hash` (step
    1's answer, kept in that session). Both are required: a page that skips them is open to
    account-linking CSRF. Raises
    `ConnectResultError` for anything else: then trust none of the URL's parameters (ValueError
    for a key shorter than MIN_KEY_BYTES: a deployment error, not a bad result)."""
    import jwt

    raw_key = _key_bytes(key)
    try:
        claims = jwt.decode(
            token,
            raw_key,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            leeway=LEEWAY_SECONDS,
            options={"require": ["iss", "iat", "exp", "org_id", "provider", "state_hash"]},
        )
    except jwt.PyJWTError as error:
        raise ConnectResultError(f"connect_result is not valid: {type(error).__name__}") from None
    issued_at = claims["iat"]
    if not isinstance(issued_at, int) or time.time() - issued_at > max_age_seconds + LEEWAY_SECONDS:
        raise ConnectResultError("connect_result is too old")
    result = ConnectResult(
        org_id=_required(claims, "org_id"),
        provider=_required(claims, "provider"),
        state_hash=_required(claims, "state_hash"),
        issued_at=issued_at,
        credentials_id=_optional(claims, "credentials_id"),
        status=_optional(claims, "status"),
        error=_optional(claims, "error"),
        end_user=_optional(claims, "end_user"),
    )
    if (result.status is None) == (result.error is None):
        raise ConnectResultError("connect_result names neither or both of status and error")
    if result.end_user != end_user:
        raise ConnectResultError("connect_result was made for another end user")
    if not hmac.compare_digest(result.state_hash.encode(), state_hash.encode()):
        raise ConnectResultError("connect_result belongs to another connect link")
    return result


def _optional(claims: dict[str, Any], name: str) -> str | None:
    value = claims.get(name)
    if value is not None and not isinstance(value, str):
        raise ConnectResultError(f"connect_result claim {name} is not a string")
    return value


def _required(claims: dict[str, Any], name: str) -> str:
    value = _optional(claims, name)
    if not value:
        raise ConnectResultError(f"connect_result claim {name} is empty")
    return value
