"""Account pinning with the real identity and revocation calls against the fake CRMs (their
identity endpoints at `CRM_API_URL_<PROVIDER>`): what a connect records is what the CRM's own
identity call names, and a reconnect to another account is refused and revoked at the fake.

These wait for the identity calls and the fakes' identity endpoints (issue 24): until the fakes
set `CRM_API_URL_*` they are skipped, and the mismatch test also needs the fakes' way to make the
next consent land on another account (`another_account` below says what it needs)."""

from collections.abc import Iterator
from typing import Any

import pytest
from fake_crms import FakeCrms
from integration_credentials.adapters.providers import crm_api_url_env_name

from tests.integration.conftest import Stack
from tests.integration.connect_flow import PROVIDERS, connect_through, fake_crms, landed


@pytest.fixture(scope="module")
def crms(stack: Stack) -> Iterator[FakeCrms]:
    yield from fake_crms(stack)


@pytest.fixture(autouse=True)
def _identity_endpoints(crms: FakeCrms) -> None:
    if not all(crm_api_url_env_name(provider) in crms.env() for provider in PROVIDERS):
        pytest.skip("waits for the fake CRMs' identity endpoints (CRM_API_URL_*, issue 24)")


def another_account(crms: FakeCrms, provider: str) -> None:
    """Make the fake's next consent grant tokens of another account than the last one."""
    switch = getattr(crms, "use_another_account", None)
    if switch is None:
        pytest.skip("waits for the fake CRMs' way to grant tokens of another account (issue 24)")
    switch(provider)


def connected(api: Any, crms: FakeCrms, headers: dict[str, str], provider: str, **body: Any) -> str:
    result = landed(connect_through(api, crms, headers, provider, **body))
    assert result["status"] == "connected", result
    return result["credentials_id"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_connect_records_the_account_the_crm_names(api, crms, org_headers, provider):
    credentials_id = connected(api, crms, org_headers, provider)
    body = api.get(org_headers, credentials_id).json
    assert isinstance(body["account"]["id"], str) and body["account"]["id"]
    assert body["verified_at"]
    # A reconnect in the same account is stored and keeps it
    again = landed(connect_through(api, crms, org_headers, provider, credentials_id=credentials_id))
    assert again["status"] == "connected"
    assert api.get(org_headers, credentials_id).json["account"]["id"] == body["account"]["id"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reconnect_to_another_account_is_refused_and_allowed_with_the_flag(
    api, crms, org_headers, provider
):
    credentials_id = connected(api, crms, org_headers, provider)
    before = api.get(org_headers, credentials_id).json
    another_account(crms, provider)
    refused = landed(connect_through(api, crms, org_headers, provider, credentials_id=credentials_id))
    assert refused["error"] == "account_mismatch"
    assert api.get(org_headers, credentials_id).json == before
    another_account(crms, provider)
    moved = landed(
        connect_through(
            api, crms, org_headers, provider, credentials_id=credentials_id, allow_account_change=True
        )
    )
    assert moved["status"] == "connected"
    assert api.get(org_headers, credentials_id).json["account"]["id"] != before["account"]["id"]
