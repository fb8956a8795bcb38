"""Account pinning with the real identity and revocation calls against the fake CRMs (their
identity and revocation endpoints at `CRM_API_URL_<PROVIDER>` / `OAUTH_REVOKE_URL_<PROVIDER>`):
what a connect records is what the CRM's own identity call names, a reconnect whose consent lands
in another account is refused and its grant revoked at the fake, and allowed with the flag.

These wait for the identity calls and the fakes' identity endpoints (issue 24): until the fakes
set `CRM_API_URL_*` and can switch the account consents land in, they are skipped."""

from collections.abc import Iterator
from typing import Any

import fake_crms
import pytest
from fake_crms import FakeCrms
from integration_credentials.adapters.providers import REVOCABLE_PROVIDERS, crm_api_url_env_name

from tests.integration.conftest import Stack
from tests.integration.connect_flow import PROVIDERS, connect_through, landed
from tests.integration.connect_flow import fake_crms as serve_fake_crms


@pytest.fixture(scope="module")
def crms(stack: Stack) -> Iterator[FakeCrms]:
    yield from serve_fake_crms(stack)


@pytest.fixture
def consent_in(crms: FakeCrms) -> Iterator[Any]:
    """Make the fake's next consents land in its first (`"home"`) or its other account."""
    accounts = getattr(fake_crms, "ACCOUNTS", None)
    others = getattr(fake_crms, "OTHER_ACCOUNTS", None)
    switch = getattr(crms, "switch_account", None)
    has_endpoints = all(crm_api_url_env_name(provider) in crms.env() for provider in PROVIDERS)
    if accounts is None or others is None or switch is None or not has_endpoints:
        pytest.skip("waits for the fake CRMs' identity endpoints and account switch (issue 24)")

    def land(provider: str, which: str) -> Any:
        account = (accounts if which == "home" else others)[provider]
        switch(provider, account)
        return account

    yield land
    for provider in PROVIDERS:
        switch(provider, accounts[provider])


def connected(api: Any, crms: FakeCrms, headers: dict[str, str], provider: str, **body: Any) -> str:
    result = landed(connect_through(api, crms, headers, provider, **body))
    assert result["status"] == "connected", result
    return result["credentials_id"]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_connect_records_the_account_the_crm_names(api, crms, org_headers, consent_in, provider):
    home = consent_in(provider, "home")
    credentials_id = connected(api, crms, org_headers, provider)
    body = api.get(org_headers, credentials_id).json
    assert body["account"]["id"] == str(home.id) and body["verified_at"]
    # A reconnect in the same account is stored and keeps it
    again = landed(connect_through(api, crms, org_headers, provider, credentials_id=credentials_id))
    assert again["status"] == "connected"
    assert api.get(org_headers, credentials_id).json["account"]["id"] == str(home.id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reconnect_to_another_account_is_refused_revoked_and_allowed_with_the_flag(
    api, crms, org_headers, consent_in, provider
):
    home = consent_in(provider, "home")
    credentials_id = connected(api, crms, org_headers, provider)
    before = api.get(org_headers, credentials_id).json
    # When the reconnect's consent lands in the other account
    other = consent_in(provider, "other")
    revoked_before = len(crms.revoked(provider))
    refused = landed(connect_through(api, crms, org_headers, provider, credentials_id=credentials_id))
    # Then it is refused, nothing changes, and the new grant is revoked at the CRM (not Dynamics)
    assert refused["error"] == "account_mismatch"
    assert api.get(org_headers, credentials_id).json == before
    revoked = crms.revoked(provider)[revoked_before:]
    if provider in REVOCABLE_PROVIDERS:
        assert len(revoked) == 1
        assert revoked[0] not in (before["access_token"], before["metadata"].get("refresh_token"))
    else:
        assert revoked == []
    # ...and with allow_account_change the move is stored
    moved = landed(
        connect_through(
            api, crms, org_headers, provider, credentials_id=credentials_id, allow_account_change=True
        )
    )
    assert moved["status"] == "connected"
    assert api.get(org_headers, credentials_id).json["account"]["id"] == str(other.id) != str(home.id)
