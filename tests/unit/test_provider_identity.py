"""The identity and revocation calls without a network: the request each provider's documentation
asks for, the account read from each documented answer (its id always a string), what an answer
amounts to (rejected, transient, permanent, already revoked), and which hosts a token may go to."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.adapters.providers import (
    IDENTIFIABLE_PROVIDERS,
    REVOCABLE_PROVIDERS,
    OAuthClient,
    PermanentRefreshError,
    TokenRejectedError,
    TransientRefreshError,
    crm_api_url_env_name,
    dynamics,
    hubspot,
    pipedrive,
    revoke_url_env_name,
    salesforce,
    zoho,
)
from integration_credentials.adapters.providers._base import account_of
from integration_credentials.adapters.providers._http import TokenResponse
from integration_credentials.adapters.providers.identity import identify, read_identity, read_revocation
from integration_credentials.core.models import Account

MODULES = {
    "salesforce": salesforce,
    "hubspot": hubspot,
    "pipedrive": pipedrive,
    "zoho": zoho,
    "dynamics": dynamics,
}
CLIENT = OAuthClient("client-id", "client-secret-0123456789abcdef")
TOKEN = "tok-0123456789abcdefghijklmnop"

# Answers as each provider's documentation shows them.
DOCUMENTED = {
    "salesforce": (
        {
            "sub": "https://login.salesforce.com/id/00Dx0000000BV7z/005x00000012Q9P",
            "user_id": "005x00000012Q9P",
            "organization_id": "00Dx0000000BV7z",
            "preferred_username": "a@b.example",
        },
        Account("00Dx0000000BV7z", user="005x00000012Q9P"),
    ),
    "hubspot": (
        {
            "active": True,
            "token_use": "access_token",
            "hub_id": 62515,
            "hub_domain": "demo.hubspot.com",
            "user": "user@example.com",
            "user_id": 123456,
            "app_id": 456789,
            "scopes": ["oauth"],
        },
        Account("62515", name="demo.hubspot.com", user="user@example.com"),
    ),
    "pipedrive": (
        {"success": True, "data": {"id": 123, "name": "U", "company_id": 5678, "company_domain": "acme"}},
        Account("5678", name="acme", user="123"),
    ),
    "zoho": (
        {"org": [{"id": "111111000000033001", "company_name": "Zylker", "zgid": "5478236"}]},
        Account("111111000000033001", name="Zylker"),
    ),
    "dynamics": (
        {
            "BusinessUnitId": "cca3985e-c618-ea11-a811-000d3a33f066",
            "UserId": "2138bd90-ec19-ea11-a811-000d3a334e11",
            "OrganizationId": "f2c9290b-0806-4d48-bf9c-3814d4286755",
        },
        Account("f2c9290b-0806-4d48-bf9c-3814d4286755", user="2138bd90-ec19-ea11-a811-000d3a334e11"),
    ),
}


def answer(status, body=None, retry_after=None):
    return TokenResponse(status=status, body=body, retry_after=retry_after)


def test_the_five_crms_identify_and_all_but_dynamics_revoke():
    assert set(MODULES) == IDENTIFIABLE_PROVIDERS
    assert set(MODULES) - {"dynamics"} == REVOCABLE_PROVIDERS
    assert crm_api_url_env_name("zoho") == "CRM_API_URL_ZOHO"
    assert revoke_url_env_name("hubspot") == "OAUTH_REVOKE_URL_HUBSPOT"


@pytest.mark.parametrize("provider", sorted(DOCUMENTED))
def test_each_documented_answer_names_its_account_with_a_string_id(provider):
    body, expected = DOCUMENTED[provider]
    assert read_identity(MODULES[provider].IDENTITY, answer(200, body), (TOKEN,)) == expected


def test_hubspot_account_details_and_an_inactive_introspection():
    details = {"portalId": 123456, "accountType": "STANDARD", "timeZone": "US/Eastern"}
    assert read_identity(hubspot.IDENTITY, answer(200, details), ()) == Account("123456")
    with pytest.raises(TokenRejectedError):
        read_identity(hubspot.IDENTITY, answer(200, {"active": False}), ())


@pytest.mark.parametrize(
    ("provider", "metadata", "url", "method"),
    [
        (
            "salesforce",
            {"instance_url": "https://acme.my.salesforce.com"},
            "https://acme.my.salesforce.com/services/oauth2/userinfo",
            "GET",
        ),
        (
            "salesforce",
            {"instance_url": "https://evil.example"},
            "https://login.salesforce.com/services/oauth2/userinfo",
            "GET",
        ),
        (
            "salesforce",
            {"login_url": "https://test.salesforce.com"},
            "https://test.salesforce.com/services/oauth2/userinfo",
            "GET",
        ),
        ("hubspot", {}, "https://api.hubapi.com/oauth/2026-03/token/introspect", "POST"),
        (
            "pipedrive",
            {"refresh_token": "r", "api_domain": "https://acme.pipedrive.com"},
            "https://acme.pipedrive.com/api/v1/users/me",
            "GET",
        ),
        ("pipedrive", {}, "https://api.pipedrive.com/api/v1/users/me", "GET"),
        ("zoho", {"api_domain": "https://www.zohoapis.eu"}, "https://www.zohoapis.eu/crm/v8/org", "GET"),
        (
            "zoho",
            {"accounts_server": "https://accounts.zoho.in"},
            "https://www.zohoapis.in/crm/v8/org",
            "GET",
        ),
        ("zoho", {}, "https://www.zohoapis.com/crm/v8/org", "GET"),
        (
            "dynamics",
            {"instance_url": "https://contoso.crm4.dynamics.com"},
            "https://contoso.crm4.dynamics.com/api/data/v9.2/WhoAmI",
            "GET",
        ),
    ],
)
def test_each_identity_call_goes_to_the_documented_url(provider, metadata, url, method):
    call = MODULES[provider].IDENTITY
    request = call.build(call.default_base(metadata, None), metadata, TOKEN, CLIENT)
    assert (request.url, request.method) == (url, method)
    assert TOKEN not in repr(request) and CLIENT.client_secret not in repr(request)


def test_each_provider_sends_the_token_as_its_documentation_says():
    def headers(provider, metadata, token=TOKEN):
        call = MODULES[provider].IDENTITY
        return call.build("https://h", metadata, token, CLIENT).headers

    assert headers("salesforce", {}) == {"Authorization": f"Bearer {TOKEN}"}
    assert headers("zoho", {}) == {"Authorization": f"Zoho-oauthtoken {TOKEN}"}
    assert headers("pipedrive", {"refresh_token": "r"}) == {"Authorization": f"Bearer {TOKEN}"}
    assert headers("pipedrive", {}) == {"x-api-token": TOKEN}  # an API token, never in the query
    assert headers("dynamics", {})["OData-Version"] == "4.0"
    assert headers("hubspot", {}, "pat-na1-0000") == {"Authorization": "Bearer pat-na1-0000"}
    introspect = hubspot.IDENTITY.build("https://h", {}, TOKEN, CLIENT)
    assert introspect.form == {
        "client_id": "client-id",
        "client_secret": CLIENT.client_secret,
        "token": TOKEN,
        "token_type_hint": "access_token",
    }


@pytest.mark.parametrize(
    ("provider", "metadata"),
    [
        ("pipedrive", {"api_domain": "https://169.254.169.254"}),
        ("pipedrive", {"api_domain": "http://acme.pipedrive.com"}),
        ("pipedrive", {"api_domain": "https://acme.pipedrive.com.evil.example"}),
        ("zoho", {"api_domain": "https://www.zohoapis.evil.example"}),
        ("dynamics", {"instance_url": "https://evil.example"}),
        ("dynamics", {}),
    ],
)
def test_a_token_is_never_sent_to_a_host_that_is_not_the_crms(provider, metadata):
    with pytest.raises(PermanentRefreshError) as refused:
        MODULES[provider].IDENTITY.default_base(metadata, None)
    assert refused.value.reconnect_required is False


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("provider", sorted(MODULES))
def test_401_and_403_are_a_rejected_token(provider, status):
    body = {"error": "Bad_OAuth_Token", "error_description": f"token {TOKEN} is bad"}
    with pytest.raises(TokenRejectedError) as refused:
        read_identity(MODULES[provider].IDENTITY, answer(status, body), (TOKEN,))
    assert TOKEN not in str(refused.value)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_overload_and_outages_are_transient_with_retry_after(status):
    with pytest.raises(TransientRefreshError) as down:
        read_identity(salesforce.IDENTITY, answer(status, None, 12.0), ())
    assert down.value.retry_after == 12.0


@pytest.mark.parametrize("status", [200, 204, 301, 400, 404, 409])
def test_anything_else_is_permanent_without_reconnect(status):
    with pytest.raises(PermanentRefreshError) as unusable:
        read_identity(pipedrive.IDENTITY, answer(status, None), ())
    assert unusable.value.reconnect_required is False


def test_zoho_names_its_error_by_code_and_a_scope_mismatch_is_no_rejection():
    body = {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
    with pytest.raises(TokenRejectedError) as refused:
        read_identity(zoho.IDENTITY, answer(401, body), ())
    assert refused.value.code == "INVALID_TOKEN"
    with pytest.raises(PermanentRefreshError):
        read_identity(zoho.IDENTITY, answer(401, {**body, "code": "OAUTH_SCOPE_MISMATCH"}), ())


@given(st.one_of(st.integers(), st.text(), st.booleans(), st.none(), st.floats(), st.lists(st.integers())))
def test_an_account_id_is_a_short_printable_string_or_there_is_no_account(value):
    account = account_of(value, name=value, user=value)
    if account is not None:
        assert isinstance(account.id, str) and account.id.strip() == account.id
        assert 0 < len(account.id) <= 255 and account.id.isprintable()
        account.id.encode("utf-8")
    if isinstance(value, bool) or value is None or isinstance(value, (float, list)):
        assert account is None


# ---- revocation ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("provider", "url"),
    [
        ("salesforce", "https://login.salesforce.com/services/oauth2/revoke"),
        ("hubspot", "https://api.hubapi.com/oauth/2026-03/token/revoke"),
        ("pipedrive", "https://oauth.pipedrive.com/oauth/revoke"),
        ("zoho", "https://accounts.zoho.com/oauth/v2/token/revoke"),
    ],
)
def test_each_revocation_goes_where_and_as_documented(provider, url):
    call = MODULES[provider].REVOCATION
    request = call.build(
        call.default_url({"refresh_token": "r"}, None), {"refresh_token": "r"}, TOKEN, "refresh_token", CLIENT
    )
    assert (request.url, request.method) == (url, "POST")
    expected = {
        "salesforce": ({"token": TOKEN}, None, None),
        "hubspot": (
            {
                "client_id": "client-id",
                "client_secret": CLIENT.client_secret,
                "token": TOKEN,
                "token_type_hint": "refresh_token",
            },
            None,
            None,
        ),
        "pipedrive": (
            {"token": TOKEN, "token_type_hint": "refresh_token"},
            None,
            ("client-id", CLIENT.client_secret),
        ),
        "zoho": (None, {"token": TOKEN}, None),
    }[provider]
    assert (request.form, request.query, request.basic_auth) == expected


@pytest.mark.parametrize(
    ("provider", "status", "body"),
    [
        ("salesforce", 400, {"error": "invalid_token", "error_description": "Token was invalid"}),
        ("zoho", 400, None),
        ("zoho", 200, {"error": "invalid_token"}),
        ("pipedrive", 400, {"error": "invalid_token"}),
        ("hubspot", 400, {"status": "BAD_REFRESH_TOKEN", "message": "refresh token not found"}),
    ],
)
def test_a_token_already_invalid_counts_as_revoked(provider, status, body):
    assert read_revocation(MODULES[provider].REVOCATION, answer(status, body), ()) is None


@pytest.mark.parametrize(
    ("provider", "status", "body", "code"),
    [
        ("salesforce", 400, {"error": "unsupported_token_type"}, "unsupported_token_type"),
        ("pipedrive", 401, {"success": False, "message": "Invalid client"}, "http_401"),
        ("zoho", 200, {"error": "invalid_client"}, "invalid_client"),
        ("hubspot", 403, None, "http_403"),
    ],
)
def test_other_refusals_are_permanent_without_reconnect(provider, status, body, code):
    with pytest.raises(PermanentRefreshError) as refused:
        read_revocation(MODULES[provider].REVOCATION, answer(status, body), ())
    assert (refused.value.code, refused.value.reconnect_required) == (code, False)


def test_a_revocation_endpoint_under_load_is_transient():
    with pytest.raises(TransientRefreshError) as busy:
        read_revocation(salesforce.REVOCATION, answer(429, None, 3.0), ())
    assert (busy.value.code, busy.value.retry_after) == ("rate_limited", 3.0)


def test_tokens_that_are_not_an_oauth_grant_are_not_revoked_through_oauth():
    with pytest.raises(PermanentRefreshError, match="not_revocable"):
        pipedrive.REVOCATION.build("https://x", {}, TOKEN, "access_token", CLIENT)
    with pytest.raises(PermanentRefreshError, match="not_revocable"):
        hubspot.REVOCATION.build("https://x", {}, "pat-na1-x", "access_token", CLIENT)
    with pytest.raises(PermanentRefreshError, match="missing_client"):
        hubspot.REVOCATION.build("https://x", {}, TOKEN, "refresh_token", None)


def test_salesforce_refuses_a_dead_token_but_a_missing_id_scope_is_no_rejection():
    # A token without the `id` scope (the identity URL service) may still sync: marking its grant
    # dead would page someone for nothing, so it is an error an operator reads, not reauth_required
    with pytest.raises(TokenRejectedError):
        read_identity(salesforce.IDENTITY, answer(403, {"error": "Bad_OAuth_Token"}), ())
    with pytest.raises(PermanentRefreshError) as scope:
        read_identity(salesforce.IDENTITY, answer(403, {"error": "insufficient_scope"}), ())
    assert not isinstance(scope.value, TokenRejectedError)
    assert scope.value.reconnect_required is False


@given(st.text(min_size=1).filter(lambda token: token.strip() and any(not ("!" <= c <= "~") for c in token)))
def test_a_token_no_header_can_carry_is_refused_before_any_call(token):
    # (a fuzzed create?verify=true with such a token was a 500: http.client cannot encode it)
    with pytest.raises(TokenRejectedError) as refused:
        identify("salesforce", {}, token, api_url="http://127.0.0.1:9/unreachable")
    assert refused.value.code == "invalid_token"
