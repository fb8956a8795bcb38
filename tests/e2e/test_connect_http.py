"""The connect flow over HTTP on `make run FAKE_CRMS=1`'s stack, as a platform's backend and a
user's browser see it: each of the five CRMs connected through its fake (which insists on
`response_type=code` and, but for Pipedrive, PKCE S256), the redirect's signed result verified
with the deployment's key, return URLs a server could read out of their prefix and Salesforce
hosts that are not host names refused (an org's links bounded under concurrency:
tests/integration/test_connect_links.py)."""

import urllib.parse
import uuid
from typing import Any

import pytest
import requests
from fake_crms import press_consent
from integration_credentials.policy.connect_result import verify_connect_result

from tests.e2e.conftest import RunningStack, connect_result_key, mint_api_key

# The modules on the session's fake-CRM stack run on one worker: that stack starts once.
pytestmark = pytest.mark.xdist_group("fake_crm_stack")

CONNECT = "/integration-credentials/connect"
HINTS: dict[str, dict[str, str]] = {
    "salesforce": {"login_url": "https://test.salesforce.com"},
    "hubspot": {},
    "pipedrive": {},
    "zoho": {},
    "dynamics": {"instance_url": "https://contoso.crm4.dynamics.com"},
}
PKCE = {"salesforce", "hubspot", "zoho", "dynamics"}


def post_connect(stack: RunningStack, key: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(f"{stack.base_url}{CONNECT}", headers={"X-API-Key": key}, json=body, timeout=30)


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


@pytest.fixture(scope="module")
def return_url(fake_crm_stack: RunningStack) -> str:
    # Nobody listens there: the browser's last hop is read from the callback's Location.
    return f"http://127.0.0.1:{fake_crm_stack.port}/crm/done"


@pytest.mark.parametrize("provider", sorted(HINTS))
def test_each_crm_connects_and_the_redirect_carries_a_result_signed_for_the_end_user(
    fake_crm_stack, return_url, provider
):
    # Given a platform user's link (the platform keeps state_hash in that user's session)
    org_id = f"org-http-{provider}-{uuid.uuid4()}"
    key = mint_api_key(fake_crm_stack, org_id)
    body = {"provider": provider, "return_url": return_url, "metadata": HINTS[provider], "end_user": "u-1"}
    started = post_connect(fake_crm_stack, key, body)
    assert started.status_code == 201, started.text
    authorize = query_of(started.json()["connect_url"])
    assert authorize["response_type"] == "code"
    assert (authorize.get("code_challenge_method") == "S256") == (provider in PKCE)
    # When the user consents at the (fake) CRM, which checks all of it, and the browser follows
    callback = press_consent(started.json()["connect_url"])
    assert callback.startswith(f"{fake_crm_stack.base_url}/integration-credentials/oauth/callback?")
    back = requests.get(callback, allow_redirects=False, timeout=30)
    assert back.status_code == 303, back.text
    location = back.headers["Location"]
    assert location.startswith(return_url + "?")
    # Then the return page verifies the outcome with the deployment's key against its session
    landed = query_of(location)
    result = verify_connect_result(
        landed["connect_result"],
        connect_result_key(fake_crm_stack),
        end_user="u-1",
        state_hash=started.json()["state_hash"],
    )
    assert (result.org_id, result.provider, result.status) == (org_id, provider, "connected")
    assert result.credentials_id == landed["credentials_id"]
    read = requests.get(
        f"{fake_crm_stack.base_url}/integration-credentials/{result.credentials_id}",
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert read.status_code == 200 and read.json()["provider"] == provider


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"provider": "hubspot", "return_url": "http://127.0.0.1:9/crm/%252e%252e/admin"}, "return_url"),
        ({"provider": "hubspot", "return_url": "http://127.0.0.1:9/crm/..;/admin"}, "return_url"),
        (
            {
                "provider": "salesforce",
                "return_url": "http://127.0.0.1:9/crm/done",
                "metadata": {"login_url": "https://evil\\x.my.salesforce.com"},
            },
            "login_url",
        ),
        ({"provider": "hubspot", "return_url": "http://127.0.0.1:9/crm/done", "end_user": "a b"}, "end_user"),
    ],
)
def test_what_a_server_could_misread_is_400(fake_crm_stack, body, field):
    key = mint_api_key(fake_crm_stack, f"org-http-refused-{uuid.uuid4()}")
    reply = post_connect(fake_crm_stack, key, body)
    assert reply.status_code == 400, reply.text
    assert field in reply.json()["detail"]
