"""The verification schedule (pure rules): which credentials the scheduler verifies instead of
refreshing, and when: each in its own slot of VERIFY_INTERVAL_SECONDS, spread over the period."""

import math
import uuid
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.core.models import CredentialsSecret, RefreshState, StoredCredentials
from integration_credentials.core.settings import Settings
from integration_credentials.policy.schedule import (
    next_verification,
    scheduled_state,
    state_after_update,
    verified_by_schedule,
)

SETTINGS = Settings(table_name="t", kms_key_arn="k")
DAY = 86_400
NOW = 1_800_000_000.25


def secret(**metadata: object) -> CredentialsSecret:
    return CredentialsSecret(dsn="https://crm.example.com", access_token="token", metadata=dict(metadata))


@pytest.mark.parametrize(
    ("provider", "metadata", "expected"),
    [
        ("pipedrive", {}, True),  # an API token
        ("hubspot", {}, True),  # a private-app token
        ("salesforce", {"refresh_token": "  "}, True),  # no usable refresh token
        ("salesforce", {"refresh_token": "rt"}, False),  # a refresh touches it
        ("custom", {}, False),  # no identity call
    ],
)
def test_which_credentials_are_verified_by_schedule(provider, metadata, expected):
    assert verified_by_schedule(provider, metadata) is expected


@given(
    st.uuids(), st.floats(min_value=0, max_value=4_000_000_000), st.integers(min_value=60, max_value=10 * DAY)
)
def test_the_next_verification_is_within_one_interval_and_in_the_credentials_own_slot(
    credentials_id, now, interval
):
    due = next_verification(str(credentials_id), now=now, interval=interval)
    assert now < due <= math.floor(now) + interval
    # Stable: asked again later in the period, the same slot; a period later, the next one
    assert next_verification(str(credentials_id), now=due - 1, interval=interval) == due
    assert next_verification(str(credentials_id), now=due, interval=interval) == due + interval


def test_a_days_verifications_are_spread_over_the_day():
    # 4,800 credentials created at the same moment: every hour of the next day gets its share
    dues = [next_verification(str(uuid.uuid4()), now=NOW, interval=DAY) for _ in range(4800)]
    hours = Counter(int((due - NOW) // 3600) for due in dues)
    assert set(hours) == set(range(24))
    assert max(hours.values()) < 2 * 200 and min(hours.values()) > 200 // 2


def test_credentials_no_refresh_touches_are_due_for_verification_once_stored():
    state = scheduled_state("pipedrive", secret(), now=NOW, settings=SETTINGS, credentials_id="c-1")
    assert state.refresh_due == next_verification("c-1", now=NOW, interval=DAY)
    # Without the id (nothing to spread by) or without an identity call: not scheduled
    assert scheduled_state("pipedrive", secret(), now=NOW, settings=SETTINGS).refresh_due is None
    assert (
        scheduled_state("custom", secret(), now=NOW, settings=SETTINGS, credentials_id="c-1").refresh_due
        is None
    )
    # The interval is the setting's
    hourly = SETTINGS.replace(verify_interval_seconds=3600)
    assert scheduled_state(
        "pipedrive", secret(), now=NOW, settings=hourly, credentials_id="c-1"
    ).refresh_due == (next_verification("c-1", now=NOW, interval=3600))


def row_with(due: int | None, provider: str = "pipedrive") -> StoredCredentials:
    return StoredCredentials("c-1", "org", provider, 3, "t", "t", b"", state=RefreshState(refresh_due=due))


def test_an_update_keeps_a_verifications_due_time_and_turns_a_refreshs_into_one():
    # A change of no token keeps the verification's time
    row = row_with(NOW + 500)
    kept = state_after_update(row, secret(a=1), secret(a=2), now=NOW, settings=SETTINGS)
    assert kept.refresh_due == NOW + 500
    # Removing the refresh token: the due time becomes the verification's
    was_refreshed = row_with(int(NOW) + 60)
    turned = state_after_update(
        was_refreshed, secret(refresh_token="rt"), secret(), now=NOW, settings=SETTINGS
    )
    assert turned.refresh_due == next_verification("c-1", now=NOW, interval=DAY)
    # ...and for a provider without an identity call, it is not scheduled at all
    custom = was_refreshed.replace(provider="custom")
    assert (
        state_after_update(
            custom, secret(refresh_token="rt"), secret(), now=NOW, settings=SETTINGS
        ).refresh_due
        is None
    )
