"""fake_crms: the identity and revocation endpoints over HTTP as each CRM documents them, their
control endpoints (reject a token, move it to another account, switch the account of the next
consents, mint an API token, list revocations), and `make run FAKE_CRMS=1` pointing the
functions' CRM_API_URL_* and OAUTH_REVOKE_URL_* at them."""

import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import pytest
from fake_crms import ACCOUNTS, OTHER_ACCOUNTS, PROVIDERS, REVOCABLE, FakeCrms
from integration_credentials.adapters.providers import OAuthClient, refresh

IDENTITY_PATH = {
    "salesforce": "/services/oauth2/userinfo",
    "hubspot": "/account-info/2026-03/details",
    "pipedrive": "/api/v1/users/me",
    "zoho": "/crm/v8/org",
    "dynamics": "/api/data/v9.2/WhoAmI",
}


@pytest.fixture(scope="module")
def crms():
    with FakeCrms() as fake:
        yield fake


def call(
    url: str, *, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(url, data=data, headers=headers or {})
    if data is not None:
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            raw = answer.read()
            return answer.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as refused:
        raw = refused.read()
        try:
            return refused.code, json.loads(raw)
        except ValueError:
            return refused.code, raw.decode()


def auth(provider: str, token: str) -> dict[str, str]:
    if provider == "pipedrive":
        return {"x-api-token": token}
    return {"Authorization": f"{'Zoho-oauthtoken' if provider == 'zoho' else 'Bearer'} {token}"}


def access_token(crms: FakeCrms, provider: str) -> tuple[str, str]:
    refresh_token = f"rt-{secrets.token_urlsafe(16)}"
    scope = "https://o.crm.dynamics.com/.default offline_access" if provider == "dynamics" else None
    crms.crms[provider].grant(refresh_token, scope=scope)
    client = crms.clients[provider]
    metadata = {
        "refresh_token": refresh_token,
        "tenant_id": "t",
        "instance_url": "https://o.crm.dynamics.com",
    }
    tokens = refresh(provider, metadata, OAuthClient(**client), token_url=crms.token_url(provider))
    return refresh_token, tokens.access_token


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_identity_call_answers_in_the_providers_shape_until_the_token_is_rejected(crms, provider):
    # Given a token the fake accepts (an API token: the bearer kind for every provider but HubSpot's
    # introspection, which test_hubspot_introspection covers)
    token = crms.api_token(provider)
    url = crms.api_url(provider) + IDENTITY_PATH[provider]
    status, body = call(url, headers=auth(provider, token))
    assert status == 200
    account = ACCOUNTS[provider]
    named = {
        "salesforce": lambda b: b["organization_id"],
        "hubspot": lambda b: b["portalId"],
        "pipedrive": lambda b: b["data"]["company_id"],
        "zoho": lambda b: b["org"][0]["id"],
        "dynamics": lambda b: b["OrganizationId"],
    }[provider]
    assert named(body) == account.id
    # When it is rejected through the control endpoint, then the identity call refuses it
    assert call(crms.control_url(provider, "reject"), form={"token": token}) == (200, {"rejected": True})
    refused, _ = call(url, headers=auth(provider, token))
    assert refused == (403 if provider == "salesforce" else 401)


def test_hubspot_introspection_takes_the_client_in_the_form(crms):
    _, token = access_token(crms, "hubspot")
    client = crms.clients["hubspot"]
    url = crms.api_url("hubspot") + "/oauth/2026-03/token/introspect"
    status, body = call(url, form={**client, "token": token, "token_type_hint": "access_token"})
    assert status == 200 and body["active"] is True and body["hub_id"] == 12345678
    assert call(url, form={**client, "client_secret": "wrong", "token": token})[0] == 401
    assert call(url, form={**client, "token": "never-issued"}) == (200, {"active": False})


def test_moving_a_grant_and_switching_the_account_over_http(crms):
    refresh_token, token = access_token(crms, "pipedrive")
    url = crms.api_url("pipedrive") + IDENTITY_PATH["pipedrive"]
    bearer = {"Authorization": f"Bearer {token}"}
    # When the grant is moved to another company, then its access token names that company
    moved = call(crms.control_url("pipedrive", "move"), form={"token": refresh_token, "account_id": "424242"})
    assert moved == (200, {"moved": True})
    assert call(url, headers=bearer)[1]["data"]["company_id"] == 424242
    # When the next consents land in the fake's other account, then a new token names that one
    assert call(crms.control_url("zoho", "account"), form={"other": "1"})[0] == 200
    try:
        _, zoho_token = access_token(crms, "zoho")  # a grant seeded now, read at identity time
        _status, body = call(crms.api_url("zoho") + "/crm/v8/org", headers=auth("zoho", zoho_token))
        assert body["org"][0]["id"] == OTHER_ACCOUNTS["zoho"].id
    finally:
        crms.switch_account("zoho", ACCOUNTS["zoho"])
    assert call(crms.control_url("zoho", "account"))[1]["id"] == ACCOUNTS["zoho"].id


@pytest.mark.parametrize("provider", REVOCABLE)
def test_a_revoked_refresh_token_stops_working_at_the_token_and_identity_endpoints(crms, provider):
    refresh_token, token = access_token(crms, provider)
    client = crms.clients[provider]
    url = crms.revoke_url(provider)
    if provider == "zoho":
        status, _ = call(url + "?" + urllib.parse.urlencode({"token": refresh_token}), form={})
    elif provider == "pipedrive":
        import base64

        basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
        status, _ = call(
            url,
            form={"token": refresh_token, "token_type_hint": "refresh_token"},
            headers={"Authorization": f"Basic {basic}"},
        )
    elif provider == "hubspot":
        status, _ = call(url, form={**client, "token": refresh_token, "token_type_hint": "refresh_token"})
    else:
        status, _ = call(url, form={"token": refresh_token})
    assert status == 200
    assert call(crms.control_url(provider, "revoked"))[1]["revoked"][-1] == refresh_token
    assert crms.account_of(provider, token) is None
    token_status, answer = call(
        crms.token_url(provider),
        form={**client, "grant_type": "refresh_token", "refresh_token": refresh_token},
    )
    # (Zoho answers its token errors with HTTP 200 and an `error`.)
    assert token_status in (400, 401) or "access_token" not in answer


def test_dynamics_has_no_revocation_endpoint(crms):
    with pytest.raises(Exception, match="no revocation"):
        crms.revoke_url("dynamics")
    assert call(f"{crms.base_url}/dynamics/revoke", form={"token": "t"})[0] == 404


def test_make_run_points_crm_api_and_revoke_urls_at_the_fakes_and_passes_overrides_through(crms, monkeypatch):
    from local_stack.devserver import fake_crm_environment, function_env
    from local_stack.provisioning import LocalResources
    from local_stack.template import load_template

    for name in crms.env():
        monkeypatch.delenv(name, raising=False)
    # Given a developer who exported their own HubSpot identity endpoint and a verification period
    monkeypatch.setenv("CRM_API_URL_HUBSPOT", "http://127.0.0.1:9/hubspot")
    monkeypatch.setenv("VERIFY_INTERVAL_SECONDS", "3600")
    refs = {name: f"<{name}>" for name in load_template()["Parameters"]}
    refs |= {"CredentialsTable": "t", "ApiKeysTable": "k", "IdempotencyTable": "i", "RefreshQueue": "q"}
    resources = LocalResources("t", "arn:key", "/p", refs, {("CredentialsKey", "Arn"): "arn:key"})

    env = function_env(resources, "GetCredentialsFunction", 3000, fake_crm_environment(crms))

    # Then the other providers' identity and revocation go to the fakes (Dynamics has none to
    # revoke), HubSpot's wholly to the developer's choice, and the period reaches the functions
    assert env["CRM_API_URL_ZOHO"] == crms.api_url("zoho")
    assert env["OAUTH_REVOKE_URL_PIPEDRIVE"] == crms.revoke_url("pipedrive")
    assert env["CRM_API_URL_DYNAMICS"] == crms.api_url("dynamics") and "OAUTH_REVOKE_URL_DYNAMICS" not in env
    assert env["CRM_API_URL_HUBSPOT"] == "http://127.0.0.1:9/hubspot"
    assert "OAUTH_REVOKE_URL_HUBSPOT" not in env and "OAUTH_TOKEN_URL_HUBSPOT" not in env
    assert env["VERIFY_INTERVAL_SECONDS"] == "3600"


def test_an_api_token_minted_over_http_belongs_to_the_account_named(crms):
    # Given a Pipedrive API token minted through the control endpoint for company 31337
    status, minted = call(crms.control_url("pipedrive", "api-token"), form={"account_id": "31337"})
    assert status == 200
    # Then users/me names that company (a number, as Pipedrive's is) for it, and nothing else works
    url = crms.api_url("pipedrive") + IDENTITY_PATH["pipedrive"]
    assert call(url, headers=auth("pipedrive", minted["token"]))[1]["data"]["company_id"] == 31337
    assert call(url, headers=auth("pipedrive", "not-" + minted["token"]))[0] == 401
    assert call(crms.control_url("pipedrive", "nonsense"), form={})[0] == 404
