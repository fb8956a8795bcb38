"""The signed result of a connect flow: what a return page verifies before trusting the redirect."""

import dataclasses
import time

import jwt
import pytest
from integration_credentials.policy.connect_result import (
    ISSUER,
    LIFETIME_SECONDS,
    ConnectResult,
    ConnectResultError,
    sign_connect_result,
    verify_connect_result,
)

KEY = "connect-result-key-0123456789-abcdefghijklmnop"
STATE_HASH = "a" * 64


def connected() -> ConnectResult:
    """A success issued now (not at import: a result is valid for minutes only)."""
    return ConnectResult(
        org_id="org-1",
        provider="hubspot",
        state_hash=STATE_HASH,
        issued_at=int(time.time()),
        credentials_id="8e1f9722-9637-42fa-b059-a29be3b12cf9",
        status="connected",
        end_user="user-42",
    )


def test_a_signed_result_verifies_for_its_end_user_and_link():
    result = connected()
    token = sign_connect_result(result, KEY)
    assert verify_connect_result(token, KEY, end_user="user-42", state_hash=STATE_HASH) == result


def test_an_error_result_without_end_user_verifies_for_none():
    refused = ConnectResult("org-1", "salesforce", STATE_HASH, int(time.time()), error="access_denied")
    token = sign_connect_result(refused, KEY)
    assert verify_connect_result(token, KEY, end_user=None, state_hash=STATE_HASH) == refused


@pytest.mark.parametrize(
    ("end_user", "state_hash", "why"),
    [
        ("user-43", STATE_HASH, "another end user"),
        (None, STATE_HASH, "another end user"),
        ("user-42", "b" * 64, "another connect link"),
    ],
)
def test_a_result_made_for_another_user_or_link_is_refused(end_user, state_hash, why):
    # The account-linking CSRF: a link made for user-42 finished in another user's browser.
    token = sign_connect_result(connected(), KEY)
    with pytest.raises(ConnectResultError, match=why):
        verify_connect_result(token, KEY, end_user=end_user, state_hash=state_hash)


def _forged(claims: dict, key: str = KEY, algorithm: str = "HS256", headers: dict | None = None) -> str:
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def _claims(**changes: object) -> dict:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "iat": now,
        "exp": now + LIFETIME_SECONDS,
        "org_id": "org-1",
        "provider": "hubspot",
        "state_hash": STATE_HASH,
        "status": "connected",
        "credentials_id": "x",
        "end_user": "user-42",
    }
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def test_the_claims_the_refusals_below_change_verify_as_they_are():
    result = verify_connect_result(_forged(_claims()), KEY, end_user="user-42", state_hash=STATE_HASH)
    assert result.status == "connected"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(
            lambda: _forged(_claims(), key="another-key-of-at-least-32-bytes-long!!"), id="other key"
        ),
        pytest.param(lambda: _forged(_claims(iss="someone-else")), id="other issuer"),
        pytest.param(lambda: _forged(_claims(exp=int(time.time()) - 60)), id="expired"),
        pytest.param(
            lambda: _forged(_claims(iat=int(time.time()) - 3600, exp=int(time.time()) + 60)),
            id="issued long ago",
        ),
        pytest.param(lambda: _forged(_claims(iat=None)), id="no iat"),
        pytest.param(lambda: _forged(_claims(state_hash=None)), id="no state hash"),
        pytest.param(lambda: _forged(_claims(error="access_denied")), id="status and error"),
        pytest.param(lambda: _forged(_claims(status=None)), id="neither status nor error"),
        pytest.param(lambda: _forged(_claims(org_id=7)), id="org id not a string"),
        pytest.param(lambda: jwt.encode(_claims(), None, algorithm="none"), id="alg none"),
        pytest.param(lambda: "status=connected", id="not a JWS"),
        pytest.param(lambda: "", id="empty"),
    ],
)
def test_anything_but_a_fresh_result_signed_with_the_key_is_refused(make):
    # Tokens are made when the test runs (a fresh one would expire while the suite gets there).
    with pytest.raises(ConnectResultError):
        verify_connect_result(make(), KEY, end_user="user-42", state_hash=STATE_HASH)


def test_a_tampered_payload_is_refused():
    header, _, signature = sign_connect_result(connected(), KEY).split(".")
    other = sign_connect_result(dataclasses.replace(connected(), org_id="org-2"), KEY)
    with pytest.raises(ConnectResultError):
        verify_connect_result(
            f"{header}.{other.split('.')[1]}.{signature}", KEY, end_user="user-42", state_hash=STATE_HASH
        )


def test_a_key_shorter_than_the_hash_is_a_configuration_error():
    with pytest.raises(ValueError, match="32 bytes"):
        sign_connect_result(connected(), "short")
    with pytest.raises(ValueError, match="32 bytes"):
        verify_connect_result("x.y.z", "short", end_user=None, state_hash=STATE_HASH)
