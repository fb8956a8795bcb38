"""The provider clients' rules that need no token endpoint: which providers refresh, where each
token endpoint is, which metadata a refresh needs, redaction and reprs (no socket: every case is
refused before a request, or computes a URL)."""

import pytest
from fake_crms import CLIENT_ID, CLIENT_SECRET, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN, REFRESH_TOKEN
from integration_credentials.adapters.providers import (
    REFRESHABLE_PROVIDERS,
    OAuthClient,
    PermanentRefreshError,
    TokenRefresh,
    refresh,
    token_url_env_name,
)
from integration_credentials.adapters.providers import salesforce as salesforce_provider
from integration_credentials.adapters.providers import zoho as zoho_provider
from integration_credentials.adapters.providers._http import redact

CLIENT = OAuthClient(CLIENT_ID, CLIENT_SECRET)
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN)
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ORG = "contoso.crm4.dynamics.com"
METADATA = {
    "salesforce": {"instance_url": "https://mycompany.my.salesforce.com", "refresh_token": REFRESH_TOKEN},
    "hubspot": {"portal_id": "12345678", "refresh_token": REFRESH_TOKEN},
    "pipedrive": {"company_domain": "mycompany", "refresh_token": REFRESH_TOKEN},
    "zoho": {"data_center": "eu", "refresh_token": REFRESH_TOKEN},
    "dynamics": {"tenant_id": TENANT, "instance_url": f"https://{ORG}", "refresh_token": REFRESH_TOKEN},
}


def test_refreshable_providers():
    assert {"salesforce", "hubspot", "pipedrive", "zoho", "dynamics"} == REFRESHABLE_PROVIDERS
    assert token_url_env_name("salesforce") == "OAUTH_TOKEN_URL_SALESFORCE"


def test_redact_keeps_codes_and_words():
    assert (
        redact("invalid_grant: expired access/refresh token", ())
        == "invalid_grant: expired access/refresh token"
    )
    assert redact("AADSTS50173: grant revoked", ()) == "AADSTS50173: grant revoked"


@pytest.mark.parametrize("provider", sorted(METADATA))
@pytest.mark.parametrize("refresh_token", [None, "", "   ", 42])
def test_missing_refresh_token_is_permanent_without_a_request(provider, refresh_token, monkeypatch):
    monkeypatch.setenv(token_url_env_name(provider), "http://127.0.0.1:1/never")
    metadata = {key: value for key, value in METADATA[provider].items() if key != "refresh_token"}
    if refresh_token is not None:
        metadata["refresh_token"] = refresh_token
    with pytest.raises(PermanentRefreshError) as caught:
        refresh(provider, metadata, CLIENT)
    assert caught.value.code == "missing_refresh_token"
    assert caught.value.reconnect_required


def test_dynamics_needs_tenant_and_org():
    with pytest.raises(PermanentRefreshError) as caught:
        refresh("dynamics", {"refresh_token": REFRESH_TOKEN, "instance_url": f"https://{ORG}"}, CLIENT)
    assert caught.value.code == "missing_tenant_id"
    with pytest.raises(PermanentRefreshError) as caught:
        refresh("dynamics", {"refresh_token": REFRESH_TOKEN, "tenant_id": "../evil"}, CLIENT)
    assert caught.value.code == "invalid_tenant_id"
    with pytest.raises(PermanentRefreshError) as caught:
        refresh(
            "dynamics",
            {"refresh_token": REFRESH_TOKEN, "tenant_id": TENANT},
            CLIENT,
            token_url="http://127.0.0.1:1/x",
        )
    assert caught.value.code == "missing_org_url"


def test_unsupported_provider():
    with pytest.raises(PermanentRefreshError) as caught:
        refresh("acme-crm", {"refresh_token": REFRESH_TOKEN}, CLIENT)
    assert caught.value.code == "unsupported_provider"
    assert not caught.value.reconnect_required


def test_non_http_token_url_is_refused():
    with pytest.raises(ValueError, match="http"):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url="file:///etc/passwd")


@pytest.mark.parametrize(
    ("metadata", "dsn", "url"),
    [
        ({}, None, "https://login.salesforce.com/services/oauth2/token"),
        (
            {"instance_url": "https://na1.salesforce.com"},
            None,
            "https://login.salesforce.com/services/oauth2/token",
        ),
        (
            {"instance_url": "https://acme.my.salesforce.com"},
            None,
            "https://acme.my.salesforce.com/services/oauth2/token",
        ),
        (
            {},
            "https://acme--dev.sandbox.my.salesforce.com",
            "https://acme--dev.sandbox.my.salesforce.com/services/oauth2/token",
        ),
        (
            {"login_url": "https://test.salesforce.com", "instance_url": "https://acme.my.salesforce.com"},
            None,
            "https://test.salesforce.com/services/oauth2/token",
        ),
        *(
            ({"login_url": f"https://{host}"}, None, f"https://{host}/services/oauth2/token")
            for host in (
                "login.salesforce.com",
                "acme.my.salesforce.com",
                "acme--uat.sandbox.my.salesforce.com",
                "acme-dev-ed.develop.my.salesforce.com",
                "agency.my.salesforce.mil",
                "acme.my.sfcrmproducts.cn",
            )
        ),
    ],
)
def test_salesforce_token_host(metadata, dsn, url):
    assert salesforce_provider.default_token_url(metadata, dsn) == url


@pytest.mark.parametrize(
    "login_url",
    [
        "https://evil.example.com",
        "http://login.salesforce.com",
        "https://salesforce.com.evil.io",
        # Salesforce's domains, but not login hosts: a Visualforce or Experience site, any force.com
        "https://attacker-controlled.force.com",
        "https://acme.lightning.force.com",
        "https://acme--c.vf.force.com",
        "https://na1.salesforce.com",
        "https://.my.salesforce.com",
        "https://acme.my.salesforce.com.evil.io",
    ],
)
def test_salesforce_login_url_must_be_salesforce(login_url):
    with pytest.raises(PermanentRefreshError) as caught:
        salesforce_provider.default_token_url({"login_url": login_url}, None)
    assert caught.value.code == "invalid_login_url"


@pytest.mark.parametrize(
    ("metadata", "dsn", "host"),
    [
        ({}, None, "accounts.zoho.com"),
        ({"accounts_server": "https://accounts.zoho.eu"}, None, "accounts.zoho.eu"),
        ({"accounts-server": "https://accounts.zohocloud.ca"}, None, "accounts.zohocloud.ca"),
        ({"data_center": "EU"}, None, "accounts.zoho.eu"),
        ({"data_center": ".in"}, None, "accounts.zoho.in"),
        ({"data_center": "com.au"}, None, "accounts.zoho.com.au"),
        ({"data_center": "AU"}, None, "accounts.zoho.com.au"),
        ({"data_center": "jp"}, None, "accounts.zoho.jp"),
        ({"data_center": "com.cn"}, None, "accounts.zoho.com.cn"),
        ({"data_center": "ca"}, None, "accounts.zohocloud.ca"),
        ({"data_center": "zohocloud.ca"}, None, "accounts.zohocloud.ca"),
        ({"data_center": "sa"}, None, "accounts.zoho.sa"),
        ({"data_center": "US"}, None, "accounts.zoho.com"),
        ({"api_domain": "https://www.zohoapis.com.au"}, None, "accounts.zoho.com.au"),
        ({"api_domain": "https://www.zohoapis.ca"}, None, "accounts.zohocloud.ca"),
        ({}, "https://www.zohoapis.jp", "accounts.zoho.jp"),
        ({}, "https://crm.zoho.eu/crm/org123", "accounts.zoho.eu"),
    ],
)
def test_zoho_accounts_server(metadata, dsn, host):
    assert zoho_provider.default_token_url(metadata, dsn) == f"https://{host}/oauth/v2/token"


@pytest.mark.parametrize(
    ("metadata", "code"),
    [
        ({"accounts_server": "https://accounts.evil.example"}, "invalid_accounts_server"),
        ({"accounts_server": "http://accounts.zoho.eu"}, "invalid_accounts_server"),
        ({"data_center": "mars"}, "unknown_data_center"),
    ],
)
def test_zoho_refuses_unknown_accounts_servers(metadata, code):
    with pytest.raises(PermanentRefreshError) as caught:
        zoho_provider.default_token_url(metadata, None)
    assert caught.value.code == code


def test_reprs_hide_secrets():
    result = TokenRefresh(NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN, 60, {})
    for text in (repr(CLIENT), repr(result)):
        for secret in SECRETS:
            assert secret not in text
