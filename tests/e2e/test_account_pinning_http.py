"""Account pinning over HTTP on `make run FAKE_CRMS=1`'s stack: a connect records the account the
fake CRM's identity endpoint names; a reconnect whose consent lands in another account is refused
(`error=account_mismatch`), changes nothing and is revoked at the fake; the same reconnect with
`allow_account_change` is stored. The fakes are driven through their control endpoints
(`/<provider>/fake/account`, `/<provider>/fake/revoked`), so this waits for them (issue 24): it is
skipped while the fakes have none."""

import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from fake_crms import press_consent

from tests.e2e.conftest import RunningStack, mint_api_key

# The modules on the session's fake-CRM stack run on one worker: that stack starts once.
pytestmark = pytest.mark.xdist_group("fake_crm_stack")

BASE = "/integration-credentials"
PROVIDER = "pipedrive"  # revocable, and no hints needed


def origin_of(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.fixture
def org(fake_crm_stack: RunningStack) -> dict[str, str]:
    return {"X-API-Key": mint_api_key(fake_crm_stack, f"org-pin-{uuid.uuid4()}")}


def flow(stack: RunningStack, headers: dict[str, str], **body: Any) -> tuple[str, dict[str, str]]:
    """connect, consent, callback: the fake's origin and the return URL's query."""
    payload = {"provider": PROVIDER, "return_url": f"http://127.0.0.1:{stack.port}/crm/done", **body}
    started = requests.post(f"{stack.base_url}{BASE}/connect", headers=headers, json=payload, timeout=30)
    assert started.status_code == 201, started.text
    callback = press_consent(started.json()["connect_url"])
    back = requests.get(callback, allow_redirects=False, timeout=30)
    assert back.status_code == 303, back.text
    return origin_of(started.json()["connect_url"]), query_of(back.headers["Location"])


@pytest.fixture
def fake(fake_crm_stack: RunningStack, org: dict[str, str]) -> Iterator[str]:
    """The fake CRMs' origin (skips while they have no control endpoints); its account restored."""
    payload = {"provider": PROVIDER, "return_url": f"http://127.0.0.1:{fake_crm_stack.port}/crm/done"}
    started = requests.post(f"{fake_crm_stack.base_url}{BASE}/connect", headers=org, json=payload, timeout=30)
    assert started.status_code == 201, started.text
    origin = origin_of(started.json()["connect_url"])
    home = requests.get(f"{origin}/{PROVIDER}/fake/account", timeout=10)
    if home.status_code != 200:
        pytest.skip("waits for the fake CRMs' control endpoints (issue 24)")
    yield origin
    account = home.json()
    form = {"account_id": str(account["id"]), "account_name": account.get("name") or ""}
    requests.post(f"{origin}/{PROVIDER}/fake/account", data=form, timeout=10).raise_for_status()


def test_a_reconnect_to_another_account_is_refused_over_http_and_allowed_with_the_flag(
    fake_crm_stack, org, fake
):
    # Given Pipedrive connected in the fake's home account
    _, first = flow(fake_crm_stack, org)
    assert first["status"] == "connected", first
    credentials_id = first["credentials_id"]
    url = f"{fake_crm_stack.base_url}{BASE}/{credentials_id}"
    before = requests.get(url, headers=org, timeout=30).json()
    assert before["account"]["id"] and before["verified_at"]
    revoked_before = requests.get(f"{fake}/{PROVIDER}/fake/revoked", timeout=10).json()["revoked"]
    # When the user reconnects in the fake's other account
    other = requests.post(f"{fake}/{PROVIDER}/fake/account", data={"other": "1"}, timeout=10).json()
    _, refused = flow(fake_crm_stack, org, credentials_id=credentials_id)
    # Then the reconnect is refused, the credentials are as they were, the new grant is revoked
    assert refused["error"] == "account_mismatch" and "credentials_id" not in refused
    assert requests.get(url, headers=org, timeout=30).json() == before
    revoked = requests.get(f"{fake}/{PROVIDER}/fake/revoked", timeout=10).json()["revoked"]
    assert len(revoked) == len(revoked_before) + 1
    assert revoked[-1] not in (before["access_token"], before["metadata"]["refresh_token"])
    # When the reconnect says allow_account_change, the move is stored
    _, moved = flow(fake_crm_stack, org, credentials_id=credentials_id, allow_account_change=True)
    assert moved["status"] == "connected" and moved["credentials_id"] == credentials_id
    after = requests.get(url, headers=org, timeout=30).json()
    assert after["account"]["id"] == str(other["id"]) != before["account"]["id"]


def test_allow_account_change_that_is_not_a_boolean_is_400_over_http(fake_crm_stack, org):
    body = {"provider": PROVIDER, "return_url": "http://127.0.0.1:9/done", "allow_account_change": "true"}
    reply = requests.post(f"{fake_crm_stack.base_url}{BASE}/connect", headers=org, json=body, timeout=30)
    assert reply.status_code == 400
    assert reply.json() == {"detail": "Validation error: allow_account_change must be true or false"}
