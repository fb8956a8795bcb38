"""The provider half of the OAuth connect flow without a token endpoint: authorize URLs, PKCE,
and where the code exchange goes (its requests captured, no socket). The exchange against the
fake CRMs: tests/integration/test_provider_connect.py."""

import re
import urllib.parse

import fake_crms as fake
import pytest
from fake_crms import AUTH_CODE, CLIENT_ID, CLIENT_SECRET, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN, REDIRECT_URI
from hypothesis import example, given
from hypothesis import strategies as st
from integration_credentials.adapters.providers import (
    REFRESHABLE_PROVIDERS,
    OAuthClient,
    PermanentRefreshError,
    authorize_url,
    authorize_url_env_name,
    exchange_code,
    new_code_verifier,
    s256_challenge,
    supports_pkce,
    token_url_env_name,
)
from integration_credentials.adapters.providers import _refresh as refresh_module
from integration_credentials.adapters.providers._http import TokenRequest, TokenResponse

CLIENT = OAuthClient(CLIENT_ID, CLIENT_SECRET)
STATE = "st4te-0123456789abcdef"
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
ORG = "contoso.crm4.dynamics.com"
# RFC 7636 appendix B.
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
VERIFIER = "verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
CHALLENGE = fake.s256(VERIFIER)
SECRETS = (CLIENT_SECRET, AUTH_CODE, VERIFIER, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN)
METADATA = {
    "salesforce": {},
    "hubspot": {},
    "pipedrive": {},
    "zoho": {},
    "dynamics": {"tenant_id": TENANT, "instance_url": f"https://{ORG}"},
}
# Every provider but Pipedrive accepts PKCE (docs/connect.md names the documents checked).
PKCE_PROVIDERS = {"salesforce", "hubspot", "zoho", "dynamics"}
DYNAMICS_SCOPE = f"https://{ORG}/user_impersonation offline_access openid"


def split(url: str) -> tuple[str, dict[str, str]]:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(values) == 1 for values in query.values()), query
    return f"{parts.scheme}://{parts.netloc}{parts.path}", {key: values[0] for key, values in query.items()}


def assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error), getattr(error, "code", ""), getattr(error, "message", "")):
        for secret in SECRETS:
            assert secret not in text


# ---- authorize URLs --------------------------------------------------------------------------

COMMON = {"client_id": CLIENT_ID, "redirect_uri": REDIRECT_URI, "state": STATE}
PKCE = {"code_challenge": CHALLENGE, "code_challenge_method": "S256"}
EXPECTED = {
    "salesforce": (
        "https://login.salesforce.com/services/oauth2/authorize",
        {**COMMON, "response_type": "code", "scope": "api refresh_token id", **PKCE},
    ),
    "hubspot": (
        "https://app.hubspot.com/oauth/authorize",
        {**COMMON, "response_type": "code", "scope": "oauth crm.objects.contacts.read", **PKCE},
    ),
    "pipedrive": ("https://oauth.pipedrive.com/oauth/authorize", {**COMMON, "response_type": "code"}),
    "zoho": (
        "https://accounts.zoho.com/oauth/v2/auth",
        {
            **COMMON,
            "response_type": "code",
            "scope": "ZohoCRM.modules.ALL,ZohoCRM.org.READ",
            "access_type": "offline",
            "prompt": "consent",
            **PKCE,
        },
    ),
    "dynamics": (
        f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/authorize",
        {**COMMON, "response_type": "code", "response_mode": "query", "scope": DYNAMICS_SCOPE, **PKCE},
    ),
}


def test_every_refreshable_provider_can_connect():
    assert set(EXPECTED) == REFRESHABLE_PROVIDERS
    assert {provider for provider in REFRESHABLE_PROVIDERS if supports_pkce(provider)} == PKCE_PROVIDERS
    assert authorize_url_env_name("zoho") == "OAUTH_AUTHORIZE_URL_ZOHO"


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_authorize_url_has_exactly_the_documented_parameters(provider):
    url = authorize_url(
        provider, CLIENT_ID, REDIRECT_URI, STATE, code_challenge=CHALLENGE, metadata=METADATA[provider]
    )
    assert split(url) == EXPECTED[provider]
    assert "+" not in url  # spaces are %20, as HubSpot's guide asks
    assert CLIENT_SECRET not in url


@pytest.mark.parametrize("provider", sorted(EXPECTED))
def test_every_authorize_url_asks_for_a_code(provider):
    # RFC 6749 section 4.1.1: a standard authorization server refuses a request without it
    # (unsupported_response_type); no provider's documentation forbids it.
    _, params = split(authorize_url(provider, CLIENT_ID, REDIRECT_URI, STATE, metadata=METADATA[provider]))
    assert params["response_type"] == "code"


@pytest.mark.parametrize("provider", sorted(PKCE_PROVIDERS))
def test_pkce_providers_send_no_challenge_unless_given_one(provider):
    _, params = split(authorize_url(provider, CLIENT_ID, REDIRECT_URI, STATE, metadata=METADATA[provider]))
    assert "code_challenge" not in params
    assert "code_challenge_method" not in params


def test_s256_challenge_matches_rfc_7636():
    assert s256_challenge(RFC_VERIFIER) == RFC_CHALLENGE
    verifier = new_code_verifier()
    assert 43 <= len(verifier) <= 128
    assert s256_challenge(verifier) == fake.s256(verifier)
    assert new_code_verifier() != verifier
    for bad in ("short", "x" * 129, "has space" + "x" * 40, "é" * 43):
        with pytest.raises(ValueError):
            s256_challenge(bad)


@pytest.mark.parametrize("challenge", ["plain-verifier", CHALLENGE + "=", CHALLENGE[:-1] + "+"])
def test_a_malformed_challenge_is_refused(challenge):
    with pytest.raises(ValueError, match="S256"):
        authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, code_challenge=challenge)


@pytest.mark.parametrize(("name", "value"), [("client_id", ""), ("redirect_uri", " "), ("state", "")])
def test_blank_arguments_are_refused(name, value):
    arguments = {**COMMON, name: value}
    with pytest.raises(ValueError, match=name):
        authorize_url("hubspot", arguments["client_id"], arguments["redirect_uri"], arguments["state"])


def test_scopes_replace_the_defaults_joined_as_each_provider_wants():
    _, salesforce = split(authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, scopes=["api", "id"]))
    assert salesforce["scope"] == "api id"
    _, zoho = split(
        authorize_url(
            "zoho", CLIENT_ID, REDIRECT_URI, STATE, scopes=["ZohoCRM.modules.ALL", "ZohoCRM.settings.READ"]
        )
    )
    assert zoho["scope"] == "ZohoCRM.modules.ALL,ZohoCRM.settings.READ"
    _, hubspot = split(
        authorize_url(
            "hubspot",
            CLIENT_ID,
            REDIRECT_URI,
            STATE,
            scopes=["oauth", "crm.objects.deals.read"],
            optional_scopes=["automation", "crm.objects.companies.read"],
        )
    )
    assert hubspot["scope"] == "oauth crm.objects.deals.read"
    assert hubspot["optional_scope"] == "automation crm.objects.companies.read"


def test_scopes_a_provider_cannot_take_are_refused():
    with pytest.raises(ValueError, match="no scope parameter"):
        authorize_url("pipedrive", CLIENT_ID, REDIRECT_URI, STATE, scopes=["deals:full"])
    with pytest.raises(ValueError, match="no optional scopes"):
        authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, optional_scopes=["id"])
    with pytest.raises(ValueError, match="non-empty"):
        authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, scopes=["api", " "])


def test_authorize_endpoint_overrides_by_argument_and_environment(monkeypatch):
    monkeypatch.setenv("OAUTH_AUTHORIZE_URL_HUBSPOT", "http://127.0.0.1:8080/hubspot/authorize")
    endpoint, params = split(
        authorize_url("hubspot", CLIENT_ID, REDIRECT_URI, STATE, code_challenge=CHALLENGE)
    )
    assert endpoint == "http://127.0.0.1:8080/hubspot/authorize"
    assert params == EXPECTED["hubspot"][1]
    endpoint, _ = split(
        authorize_url(
            "hubspot", CLIENT_ID, REDIRECT_URI, STATE, authorize_url="https://staging.example/authorize"
        )
    )
    assert endpoint == "https://staging.example/authorize"
    # An endpoint with a query of its own keeps it.
    endpoint, params = split(
        authorize_url(
            "pipedrive", CLIENT_ID, REDIRECT_URI, STATE, authorize_url="http://127.0.0.1:1/a?fake=1"
        )
    )
    assert (endpoint, params) == ("http://127.0.0.1:1/a", {"fake": "1", **EXPECTED["pipedrive"][1]})
    with pytest.raises(ValueError, match="http or https"):
        authorize_url("hubspot", CLIENT_ID, REDIRECT_URI, STATE, authorize_url="javascript:alert(1)")


def test_the_override_skips_the_metadata_endpoint_but_not_the_parameters(monkeypatch):
    monkeypatch.setenv(authorize_url_env_name("dynamics"), "http://127.0.0.1:1/authorize")
    endpoint, params = split(
        authorize_url(
            "dynamics",
            CLIENT_ID,
            REDIRECT_URI,
            STATE,
            code_challenge=CHALLENGE,
            metadata=METADATA["dynamics"],
        )
    )
    assert endpoint == "http://127.0.0.1:1/authorize"
    assert params == EXPECTED["dynamics"][1]


@pytest.mark.parametrize(
    ("login_url", "host"),
    [
        ("https://test.salesforce.com", "test.salesforce.com"),
        ("https://login.salesforce.com/", "login.salesforce.com"),
        ("https://mycompany.my.salesforce.com", "mycompany.my.salesforce.com"),
        ("mycompany--uat.sandbox.my.salesforce.com", "mycompany--uat.sandbox.my.salesforce.com"),
        ("https://agency.my.salesforce.mil", "agency.my.salesforce.mil"),
    ],
)
def test_salesforce_authorize_host_from_login_url(login_url, host):
    endpoint, _ = split(
        authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, metadata={"login_url": login_url})
    )
    assert endpoint == f"https://{host}/services/oauth2/authorize"


@pytest.mark.parametrize(
    "login_url",
    [
        "http://login.salesforce.com",
        "https://evil.example.com",
        "https://login.salesforce.com.evil.example",
        "https://mycompany.lightning.force.com",
        "https://c.visualforce.com",
        "https://user:pw@login.salesforce.com",
        "https://login.salesforce.com:8443",
        "https://.my.salesforce.com",
        "https://evil\\x.my.salesforce.com",
        "https://evil%2f.my.salesforce.com",
        "https://evil%x.my.salesforce.com",
        "https://evil_x.my.salesforce.com",
        "https://-evil.my.salesforce.com",
        "https://evil-.my.salesforce.com",
        "https://a..my.salesforce.com",
    ],
)
def test_salesforce_login_url_outside_the_allow_list_is_refused(login_url):
    with pytest.raises(PermanentRefreshError) as caught:
        authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, metadata={"login_url": login_url})
    assert caught.value.code == "invalid_login_url"


_PLAIN_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def _plain_host(host: str) -> bool:
    """A host name of DNS labels (letters, digits, inner hyphens), written out without a regex
    of the code under test."""
    labels = host.split(".")
    return len(host) <= 253 and all(
        0 < len(label) <= 63 and _PLAIN_LABEL.fullmatch(label) is not None for label in labels
    )


@given(st.text(alphabet="abzAZ09-._\\%/:@?#[]\u0130\u212a ", min_size=0, max_size=30))
@example("x\\y")
@example("x%2fy")
@example("x%y")
@example("uat--x.sandbox")
def test_salesforce_accepts_only_plain_host_names_under_my_domain(label):
    # Given any text as the My Domain's first labels
    login_url = f"https://{label}.my.salesforce.com"
    try:
        endpoint, _ = split(
            authorize_url("salesforce", CLIENT_ID, REDIRECT_URI, STATE, metadata={"login_url": login_url})
        )
    except PermanentRefreshError as error:
        assert error.code == "invalid_login_url"
        # Then a refused one is never a plain host name under .my.salesforce.com
        assert not _plain_host(label.lower()), label
        return
    # Then an accepted one sends the browser (and later the client secret) to a plain host name
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    assert host.endswith(".my.salesforce.com") and _plain_host(host), (label, host)
    assert host == f"{label.lower()}.my.salesforce.com"


@pytest.mark.parametrize(
    "instance_url", ["https://a\\b.my.salesforce.com", "https://a%2fb.my.salesforce.com"]
)
def test_a_salesforce_instance_url_that_is_not_a_host_name_is_not_a_token_host(instance_url):
    assert (
        refresh_module.provider_spec("salesforce", "refresh").default_token_url(
            {"instance_url": instance_url}, None
        )
        == "https://login.salesforce.com/services/oauth2/token"
    )


def test_zoho_authorize_host_follows_the_data_centre():
    endpoint, _ = split(authorize_url("zoho", CLIENT_ID, REDIRECT_URI, STATE, metadata={"data_center": "eu"}))
    assert endpoint == "https://accounts.zoho.eu/oauth/v2/auth"
    endpoint, _ = split(authorize_url("zoho", CLIENT_ID, REDIRECT_URI, STATE, metadata={"data_center": "ca"}))
    assert endpoint == "https://accounts.zohocloud.ca/oauth/v2/auth"
    with pytest.raises(PermanentRefreshError) as caught:
        authorize_url("zoho", CLIENT_ID, REDIRECT_URI, STATE, metadata={"data_center": "mars"})
    assert caught.value.code == "unknown_data_center"


def test_dynamics_authorize_defaults_to_organizations_and_needs_the_org():
    endpoint, params = split(
        authorize_url(
            "dynamics", CLIENT_ID, REDIRECT_URI, STATE, metadata={"instance_url": f"https://{ORG}/"}
        )
    )
    assert endpoint == "https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize"
    assert params["scope"] == DYNAMICS_SCOPE
    _, params = split(
        authorize_url(
            "dynamics",
            CLIENT_ID,
            REDIRECT_URI,
            STATE,
            scopes=[f"https://{ORG}/.default", "offline_access"],
            metadata={"instance_url": f"https://{ORG}"},
        )
    )
    assert params["scope"] == f"https://{ORG}/.default offline_access"
    with pytest.raises(PermanentRefreshError) as caught:
        authorize_url("dynamics", CLIENT_ID, REDIRECT_URI, STATE, metadata={"tenant_id": TENANT})
    assert caught.value.code == "missing_org_url"
    with pytest.raises(PermanentRefreshError) as caught:
        authorize_url(
            "dynamics",
            CLIENT_ID,
            REDIRECT_URI,
            STATE,
            metadata={"tenant_id": "a/b", "instance_url": f"https://{ORG}"},
        )
    assert caught.value.code == "invalid_tenant_id"


def test_unknown_provider_is_refused():
    with pytest.raises(PermanentRefreshError) as caught:
        authorize_url("custom", CLIENT_ID, REDIRECT_URI, STATE)
    assert (caught.value.code, caught.value.reconnect_required) == ("unsupported_provider", False)
    with pytest.raises(PermanentRefreshError):
        exchange_code("custom", AUTH_CODE, CLIENT, REDIRECT_URI)
    with pytest.raises(PermanentRefreshError):
        supports_pkce("custom")


def test_missing_code_is_refused_without_a_request(monkeypatch):
    monkeypatch.setattr(refresh_module, "post", pytest.fail)
    with pytest.raises(PermanentRefreshError) as caught:
        exchange_code("hubspot", " ", CLIENT, REDIRECT_URI)
    assert caught.value.code == "missing_code"


# ---- where the exchange goes by default ------------------------------------------------------


@pytest.fixture
def posted(monkeypatch) -> list[TokenRequest]:
    """The requests `post` was given, each answered with a token."""
    requests: list[TokenRequest] = []

    def post(request: TokenRequest, timeout: float) -> TokenResponse:
        requests.append(request)
        return TokenResponse(
            200, {"access_token": NEW_ACCESS_TOKEN, "api_domain": "https://www.zohoapis.eu"}, None
        )

    monkeypatch.setattr(refresh_module, "post", post)
    for provider in REFRESHABLE_PROVIDERS:
        monkeypatch.delenv(token_url_env_name(provider), raising=False)
    return requests


@pytest.mark.parametrize(
    ("provider", "metadata", "url"),
    [
        ("salesforce", {}, "https://login.salesforce.com/services/oauth2/token"),
        (
            "salesforce",
            {"login_url": "https://test.salesforce.com"},
            "https://test.salesforce.com/services/oauth2/token",
        ),
        ("hubspot", {}, "https://api.hubapi.com/oauth/v3/token"),
        ("pipedrive", {}, "https://oauth.pipedrive.com/oauth/token"),
        ("zoho", {}, "https://accounts.zoho.com/oauth/v2/token"),
        (
            "dynamics",
            {"instance_url": f"https://{ORG}"},
            "https://login.microsoftonline.com/organizations/oauth2/v2.0/token",
        ),
        ("dynamics", METADATA["dynamics"], f"https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"),
    ],
)
def test_default_exchange_endpoint(posted, provider, metadata, url):
    exchange_code(provider, AUTH_CODE, CLIENT, REDIRECT_URI, metadata=metadata)
    assert [request.url for request in posted] == [url]


@pytest.mark.parametrize(
    ("server", "stored"),
    [
        ("https://accounts.zoho.eu", "https://accounts.zoho.eu"),
        ("https://accounts.zoho.com.au/", "https://accounts.zoho.com.au"),
        ("accounts.zohocloud.ca", "https://accounts.zohocloud.ca"),
    ],
)
def test_zoho_exchanges_at_the_callbacks_accounts_server_and_keeps_it(posted, server, stored):
    result = exchange_code("zoho", AUTH_CODE, CLIENT, REDIRECT_URI, accounts_server=server)
    assert [request.url for request in posted] == [f"{stored}/oauth/v2/token"]
    assert result.metadata_updates == {"api_domain": "https://www.zohoapis.eu", "accounts_server": stored}


@pytest.mark.parametrize(
    "server",
    [
        "https://accounts.zoho.evil.example",
        "https://evil.example/accounts.zoho.eu",
        "http://accounts.zoho.eu",
        "https://accounts.zoho.eu:8443",
        "https://user@accounts.zoho.eu",
        "https://www.zohoapis.eu",
        "",
    ],
)
def test_zoho_refuses_an_accounts_server_it_does_not_know(posted, monkeypatch, server):
    # Even with the endpoint overridden: the callback's value is checked before anything is sent.
    monkeypatch.setenv(token_url_env_name("zoho"), "http://127.0.0.1:1/oauth/v2/token")
    with pytest.raises(PermanentRefreshError) as caught:
        exchange_code("zoho", AUTH_CODE, CLIENT, REDIRECT_URI, accounts_server=server)
    assert caught.value.code == "invalid_accounts_server"
    assert posted == []


def test_only_zoho_takes_an_accounts_server(posted):
    with pytest.raises(ValueError, match="accounts server"):
        exchange_code("hubspot", AUTH_CODE, CLIENT, REDIRECT_URI, accounts_server="https://accounts.zoho.eu")
    assert posted == []


def test_dynamics_id_token_without_a_tenant_changes_nothing(posted, monkeypatch):
    def post(request: TokenRequest, timeout: float) -> TokenResponse:
        body = {"access_token": NEW_ACCESS_TOKEN, "id_token": fake.id_token({"tid": "not/a tenant"})}
        return TokenResponse(200, body, None)

    monkeypatch.setattr(refresh_module, "post", post)
    result = exchange_code("dynamics", AUTH_CODE, CLIENT, REDIRECT_URI, metadata=METADATA["dynamics"])
    assert result.metadata_updates == {}
    monkeypatch.setattr(
        refresh_module,
        "post",
        lambda request, timeout: TokenResponse(200, {"access_token": "a", "id_token": "x.!.y"}, None),
    )
    assert (
        exchange_code(
            "dynamics", AUTH_CODE, CLIENT, REDIRECT_URI, metadata=METADATA["dynamics"]
        ).metadata_updates
        == {}
    )
