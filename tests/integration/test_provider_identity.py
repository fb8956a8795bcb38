"""The identity and revocation calls of each CRM (`adapters.providers.identify` / `revoke`) against
the fake CRMs over loopback: the account a token belongs to (its id always a string), a token the
CRM refuses, a CRM that is down or slow, HubSpot's private-app tokens and Pipedrive's API tokens,
the revocation endpoints, and that no token or client secret ever shows in an error."""

import secrets
import threading

import pytest
from fake_crms import (
    ACCOUNTS,
    OTHER_ACCOUNTS,
    PROVIDERS,
    REVOCABLE,
    FakeAccount,
    FakeCrms,
    Reply,
    fixed,
    serve,
)
from integration_credentials.adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    RefreshError,
    TokenRejectedError,
    TransientRefreshError,
    crm_api_url_env_name,
    identify,
    refresh,
    revoke,
    revoke_url_env_name,
)

ORG = "contoso.crm4.dynamics.com"
EXPECTED = {  # the fake's default account, as the service reads it
    "salesforce": ("00D000000000FAKEAA", None, "005000000000FAKEAA"),
    "hubspot": ("12345678", "mycompany.hubspot.com", "user@mycompany.example"),
    "pipedrive": ("1234567", "mycompany", "7654321"),
    "zoho": ("111111000000033001", "My Company", None),
    "dynamics": ("f2c9290b-0806-4d48-bf9c-3814d4286755", None, "2138bd90-ec19-ea11-a811-000d3a334e11"),
}


@pytest.fixture(scope="module")
def crms():
    with FakeCrms() as fake:
        yield fake


def client_of(crms, provider):
    return OAuthClient(crms.clients[provider]["client_id"], crms.clients[provider]["client_secret"])


def grant(crms, provider):
    """A fresh grant the fake holds, refreshed once by the service's own code: (metadata, access)."""
    refresh_token = f"rt-{provider}-{secrets.token_urlsafe(24)}"
    scope = f"https://{ORG}/user_impersonation offline_access" if provider == "dynamics" else None
    crms.crms[provider].grant(refresh_token, scope=scope)
    metadata = {"refresh_token": refresh_token}
    if provider == "dynamics":
        metadata |= {"tenant_id": "organizations", "instance_url": f"https://{ORG}"}
    tokens = refresh(provider, metadata, client_of(crms, provider), token_url=crms.token_url(provider))
    return {**metadata, **tokens.metadata_updates}, tokens.access_token


def who(crms, provider, metadata, token, **options):
    return identify(
        provider, metadata, token, client=client_of(crms, provider), api_url=crms.api_url(provider), **options
    )


def revoke_at(crms, provider, metadata, token, kind="refresh_token"):
    revoke(
        provider,
        metadata,
        token,
        token_kind=kind,
        client=client_of(crms, provider),
        revoke_url=crms.revoke_url(provider),
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_identify_names_the_account_the_token_belongs_to_with_a_string_id(crms, provider):
    # Given an access token the CRM issued for a grant
    metadata, access_token = grant(crms, provider)
    # When the service asks the CRM who the token belongs to
    account = who(crms, provider, metadata, access_token)
    # Then it is the CRM's account, its id a string even where the CRM's is a number
    assert (account.id, account.name, account.user) == EXPECTED[provider]
    assert isinstance(account.id, str)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_token_moved_to_another_account_is_identified_as_that_account(crms, provider):
    metadata, access_token = grant(crms, provider)
    # Given the CRM now says the grant belongs to another account
    assert crms.move(provider, metadata["refresh_token"], OTHER_ACCOUNTS[provider])
    # Then the identity call names the other account
    assert who(crms, provider, metadata, access_token).id == str(OTHER_ACCOUNTS[provider].id)
    assert str(ACCOUNTS[provider].id) != str(OTHER_ACCOUNTS[provider].id)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_token_the_crm_refuses_is_token_rejected_and_never_quoted(crms, provider):
    metadata, access_token = grant(crms, provider)
    # Given the CRM no longer accepts the token (the user revoked the app)
    assert crms.reject(provider, access_token)
    # When the service asks who it belongs to, then it is told the token was rejected
    with pytest.raises(TokenRejectedError) as refused:
        who(crms, provider, metadata, access_token)
    assert_no_secret(refused.value, access_token, crms.clients[provider]["client_secret"])


def test_hubspot_private_app_token_is_identified_by_the_account_details_api(crms):
    # Given a private-app token (pat-...) of a portal, and no OAuth client at all
    token = crms.api_token("hubspot", FakeAccount(99887766, None))
    assert token.startswith("pat-")
    # When the service identifies it, then the account-details API names the portal
    account = identify("hubspot", {}, token, api_url=crms.api_url("hubspot"))
    assert account.id == "99887766"
    # And without the client an OAuth token cannot be introspected (an operator's to fix)
    _, oauth_token = grant(crms, "hubspot")
    with pytest.raises(PermanentRefreshError) as missing:
        identify("hubspot", {}, oauth_token, api_url=crms.api_url("hubspot"))
    assert (missing.value.code, missing.value.reconnect_required) == ("missing_client", False)
    # And a rejected private-app token is refused (401 from the account-details API)
    crms.reject("hubspot", token)
    with pytest.raises(TokenRejectedError):
        identify("hubspot", {}, token, api_url=crms.api_url("hubspot"))


def test_pipedrive_api_token_goes_in_the_x_api_token_header(crms):
    # Given a credential without a refresh token: it holds a personal API token
    token = crms.api_token("pipedrive")
    before = len(crms.server.received)
    # When the service identifies it
    account = identify(
        "pipedrive",
        {"api_domain": "https://mycompany.pipedrive.com"},
        token,
        api_url=crms.api_url("pipedrive"),
    )
    # Then the company is named, and the token went in x-api-token, never in the URL
    assert (account.id, account.name) == ("1234567", "mycompany")
    (request,) = crms.server.received[before:]
    assert request.headers["x-api-token"] == token
    assert "authorization" not in request.headers and request.query == {}
    # And a mistyped API token is rejected
    with pytest.raises(TokenRejectedError):
        identify("pipedrive", {}, token + "x", api_url=crms.api_url("pipedrive"))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_crm_api_url_env_replaces_the_base_and_the_documented_path_is_appended(crms, provider, monkeypatch):
    metadata, access_token = grant(crms, provider)
    monkeypatch.setenv(crm_api_url_env_name(provider), crms.api_url(provider) + "/")
    account = identify(provider, metadata, access_token, client=client_of(crms, provider))
    assert account.id == EXPECTED[provider][0]


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_a_crm_that_is_down_or_throttling_is_transient(provider, status):
    reply = Reply(status, {"message": "down for maintenance"}, headers={"Retry-After": "7"})
    with serve(fixed(reply)) as endpoint, pytest.raises(TransientRefreshError) as down:
        identify(
            provider,
            {},
            "tok-" + "a" * 30,
            client=OAuthClient("id", "secret-" + "s" * 20),
            api_url=endpoint.base_url,
        )
    assert down.value.retry_after == 7
    assert "tok-" not in str(down.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_crm_that_does_not_answer_in_time_is_a_transient_timeout(provider):
    release = threading.Event()

    def held(received):
        release.wait(5)
        return Reply(200, {})

    with serve(held) as endpoint:
        try:
            with pytest.raises(TransientRefreshError) as slow:
                identify(
                    provider,
                    {},
                    "tok",
                    client=OAuthClient("id", "secret"),
                    api_url=endpoint.base_url,
                    timeout=0.3,
                )
        finally:
            release.set()
    assert slow.value.code == "timeout"


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("body", [{}, {"data": None}, {"org": []}, [1, 2], b"<html>ok</html>"])
def test_an_answer_that_names_no_account_is_permanent_without_reconnect(provider, body):
    with serve(fixed(Reply(200, body))) as endpoint, pytest.raises(PermanentRefreshError) as unusable:
        identify(provider, {}, "tok", client=OAuthClient("id", "secret"), api_url=endpoint.base_url)
    assert (unusable.value.code, unusable.value.reconnect_required) == ("invalid_response", False)


def test_an_error_body_echoing_the_token_never_reaches_the_message():
    token = "00D5g000001234567!AQYAQechoedAccessToken0123456789"
    secret = "client-secret-0123456789abcdef"
    reply = Reply(403, {"error": "Bad_OAuth_Token", "error_description": f"bad token {token} for {secret}"})
    with serve(fixed(reply)) as endpoint, pytest.raises(TokenRejectedError) as refused:
        identify("salesforce", {}, token, client=OAuthClient("id", secret), api_url=endpoint.base_url)
    assert refused.value.code == "Bad_OAuth_Token"
    assert_no_secret(refused.value, token, secret)


def test_zoho_scope_mismatch_is_not_a_rejected_token():
    body = {
        "code": "OAUTH_SCOPE_MISMATCH",
        "details": {},
        "message": "invalid oauth scope to access this URL",
        "status": "error",
    }
    with serve(fixed(Reply(401, body))) as endpoint, pytest.raises(PermanentRefreshError) as refused:
        identify("zoho", {}, "tok", api_url=endpoint.base_url)
    assert (refused.value.code, refused.value.reconnect_required) == ("OAUTH_SCOPE_MISMATCH", False)


def test_a_zoho_grant_without_the_org_scope_is_refused_for_the_scope_not_the_token(crms):
    # Given a Zoho grant consented for the records only (no ZohoCRM.org.READ)
    refresh_token = f"rt-zoho-{secrets.token_urlsafe(24)}"
    crms.crms["zoho"].grant(refresh_token, scope="ZohoCRM.modules.ALL")
    metadata = {"refresh_token": refresh_token}
    tokens = refresh("zoho", metadata, client_of(crms, "zoho"), token_url=crms.token_url("zoho"))
    # Then the org API refuses the call, which says nothing against the token
    with pytest.raises(PermanentRefreshError) as refused:
        who(crms, "zoho", metadata, tokens.access_token)
    assert (refused.value.code, refused.value.reconnect_required) == ("OAUTH_SCOPE_MISMATCH", False)


# ---- revocation ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", REVOCABLE)
def test_revoking_the_refresh_token_ends_the_grant_at_the_token_and_identity_endpoints(crms, provider):
    metadata, access_token = grant(crms, provider)
    # When the service revokes the grant's refresh token
    revoke_at(crms, provider, metadata, metadata["refresh_token"])
    # Then the CRM revoked it, its access token is refused, and it cannot be refreshed
    assert crms.revoked(provider)[-1] == metadata["refresh_token"]
    with pytest.raises(TokenRejectedError):
        who(crms, provider, metadata, access_token)
    with pytest.raises(PermanentRefreshError) as dead:
        refresh(provider, metadata, client_of(crms, provider), token_url=crms.token_url(provider))
    assert dead.value.reconnect_required
    # And revoking it again is not an error: a token already invalid counts as revoked
    revoke_at(crms, provider, metadata, metadata["refresh_token"])


@pytest.mark.parametrize("provider", REVOCABLE)
def test_revoking_an_access_token_ends_that_token(crms, provider):
    metadata, access_token = grant(crms, provider)
    revoke_at(crms, provider, metadata, access_token, kind="access_token")
    with pytest.raises(TokenRejectedError):
        who(crms, provider, metadata, access_token)


def test_salesforce_already_invalid_answer_counts_as_revoked():
    reply = Reply(400, {"error": "invalid_token", "error_description": "Token was invalid"})
    with serve(fixed(reply)) as endpoint:
        revoke("salesforce", {}, "tok", token_kind="refresh_token", revoke_url=endpoint.url("/revoke"))
    unsupported = Reply(
        400, {"error": "unsupported_token_type", "error_description": "Token type not supported"}
    )
    with serve(fixed(unsupported)) as endpoint, pytest.raises(PermanentRefreshError) as refused:
        revoke("salesforce", {}, "tok", token_kind="refresh_token", revoke_url=endpoint.url("/revoke"))
    assert (refused.value.code, refused.value.reconnect_required) == ("unsupported_token_type", False)


def test_zoho_revocation_sends_the_token_as_the_token_query_parameter(crms, monkeypatch):
    metadata, _ = grant(crms, "zoho")
    monkeypatch.setenv(revoke_url_env_name("zoho"), crms.revoke_url("zoho"))
    before = len(crms.server.received)
    revoke("zoho", metadata, metadata["refresh_token"], token_kind="refresh_token")
    (request,) = crms.server.received[before:]
    assert (request.method, request.query, request.body) == (
        "POST",
        {"token": [metadata["refresh_token"]]},
        b"",
    )


def test_revocation_with_a_wrong_client_secret_is_permanent_and_quotes_no_secret(crms):
    metadata, _ = grant(crms, "pipedrive")
    secret = "wrong-secret-0123456789abcdef"
    with pytest.raises(PermanentRefreshError) as refused:
        revoke(
            "pipedrive",
            metadata,
            metadata["refresh_token"],
            token_kind="refresh_token",
            client=OAuthClient(crms.clients["pipedrive"]["client_id"], secret),
            revoke_url=crms.revoke_url("pipedrive"),
        )
    assert (refused.value.code, refused.value.reconnect_required) == ("http_401", False)
    assert_no_secret(refused.value, metadata["refresh_token"], secret)


@pytest.mark.parametrize("provider", REVOCABLE)
@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_revocation_endpoint_that_is_down_is_transient(provider, status):
    down = Reply(status, {"error": "server_error"})
    with serve(fixed(down)) as endpoint, pytest.raises(TransientRefreshError):
        revoke(
            provider,
            {"refresh_token": "r"},
            "tok",
            token_kind="refresh_token",
            client=OAuthClient("id", "secret"),
            revoke_url=endpoint.url("/revoke"),
        )


def test_dynamics_has_no_revocation_and_api_tokens_are_not_revoked_through_oauth(crms):
    with pytest.raises(PermanentRefreshError) as dynamics:
        revoke("dynamics", {}, "tok", token_kind="refresh_token")
    assert (dynamics.value.code, dynamics.value.reconnect_required) == ("revocation_unsupported", False)
    for provider, token in (
        ("pipedrive", crms.api_token("pipedrive")),
        ("hubspot", crms.api_token("hubspot")),
    ):
        with pytest.raises(PermanentRefreshError) as kept:
            revoke(
                provider,
                {},
                token,
                token_kind="access_token",
                client=client_of(crms, provider),
                revoke_url=crms.revoke_url(provider),
            )
        assert kept.value.code == "not_revocable"
        assert crms.account_of(provider, token) is not None


def assert_no_secret(error: RefreshError, *values: str) -> None:
    text = f"{error} {error.code} {error.message} {error!r}"
    for value in values:
        assert value not in text
