"""The code exchange of the OAuth connect flow (the layer's provider clients) against the fake
CRMs on 127.0.0.1, each holding the code AUTH_CODE it issued for REDIRECT_URI."""

import fake_crms as fake
import pytest
from fake_crms import (
    AUTH_CODE,
    CLIENT_ID,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    NEW_REFRESH_TOKEN,
    REDIRECT_URI,
    Reply,
)
from integration_credentials.adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    TokenRefresh,
    TransientRefreshError,
    exchange_code,
    token_url_env_name,
)

CLIENT = OAuthClient(CLIENT_ID, CLIENT_SECRET)
TENANT = fake.DYNAMICS_TENANT_ID
ORG = fake.DYNAMICS_ORG
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
PKCE_PROVIDERS = {"salesforce", "hubspot", "zoho", "dynamics"}
# Each provider's documented token path, which the fake serves.
PATHS = {
    "salesforce": "/services/oauth2/token",
    "hubspot": "/oauth/v3/token",
    "pipedrive": "/oauth/token",
    "zoho": "/oauth/v2/token",
    "dynamics": f"/{TENANT}/oauth2/v2.0/token",
}


def assert_no_secret(error: BaseException) -> None:
    for text in (str(error), repr(error), getattr(error, "code", ""), getattr(error, "message", "")):
        for secret in SECRETS:
            assert secret not in text


def exchange(provider: str, server: fake.FakeEndpoint, **arguments):
    arguments.setdefault("metadata", METADATA[provider])
    if provider in PKCE_PROVIDERS:
        arguments.setdefault("code_verifier", VERIFIER)
    return exchange_code(
        provider,
        arguments.pop("code", AUTH_CODE),
        CLIENT,
        arguments.pop("redirect_uri", REDIRECT_URI),
        token_url=server.url(PATHS[provider]),
        **arguments,
    )


def serve(provider: str, **arguments):
    """The provider's fake, holding AUTH_CODE (with CHALLENGE where it takes PKCE); `mode`
    "refused": the code expired."""
    challenge = CHALLENGE if provider in PKCE_PROVIDERS else None
    return fake.serve(fake.seeded(provider, challenge=challenge, tenant=TENANT, org=ORG, **arguments))


EXCHANGED = {
    "salesforce": TokenRefresh(
        NEW_ACCESS_TOKEN,
        NEW_REFRESH_TOKEN,
        None,
        {"instance_url": "https://mycompany.my.salesforce.com"},
        "Bearer",
        "refresh_token api",
    ),
    "hubspot": TokenRefresh(NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN, 1800, {}, "bearer", None),
    "pipedrive": TokenRefresh(
        NEW_ACCESS_TOKEN,
        NEW_REFRESH_TOKEN,
        3599,
        {"api_domain": "https://mycompany.pipedrive.com"},
        "Bearer",
        "base,deals:full",
    ),
    "zoho": TokenRefresh(
        NEW_ACCESS_TOKEN,
        NEW_REFRESH_TOKEN,
        3600,
        {"api_domain": "https://www.zohoapis.eu"},
        "Bearer",
        "ZohoCRM.modules.ALL,ZohoCRM.org.READ",
    ),
    "dynamics": TokenRefresh(
        NEW_ACCESS_TOKEN,
        NEW_REFRESH_TOKEN,
        4788,
        {"tenant_id": TENANT},
        "Bearer",
        f"https://{ORG}/user_impersonation",
    ),
}


@pytest.mark.parametrize("provider", sorted(EXCHANGED))
def test_code_exchange_succeeds_as_each_provider_documents(provider):
    with serve(provider) as server:
        result = exchange(provider, server)
    assert result == EXCHANGED[provider]
    [received] = server.received
    assert received.query == {}  # nothing in the URL
    form = {key: values[0] for key, values in received.form.items()}
    assert (form["grant_type"], form["code"], form["redirect_uri"]) == (
        "authorization_code",
        AUTH_CODE,
        REDIRECT_URI,
    )
    assert ("code_verifier" in form) == (provider in PKCE_PROVIDERS)
    if provider == "pipedrive":
        assert CLIENT_SECRET.encode() not in received.body
    else:
        assert (form["client_id"], form["client_secret"]) == (CLIENT_ID, CLIENT_SECRET)


@pytest.mark.parametrize("provider", sorted(EXCHANGED))
def test_refused_code_is_permanent_and_needs_a_new_connect(provider):
    expected = {
        "salesforce": "invalid_grant",
        "hubspot": "BAD_AUTH_CODE",
        "pipedrive": "http_400",
        "zoho": "invalid_code",
        "dynamics": "AADSTS70008",
    }
    with serve(provider, mode="refused") as server, pytest.raises(PermanentRefreshError) as caught:
        exchange(provider, server)
    assert (caught.value.code, caught.value.reconnect_required) == (expected[provider], True)
    assert_no_secret(caught.value)


@pytest.mark.parametrize("provider", sorted(EXCHANGED))
def test_another_redirect_uri_is_refused(provider):
    with serve(provider) as server, pytest.raises(PermanentRefreshError) as caught:
        exchange(provider, server, redirect_uri="https://attacker.example/callback")
    assert_no_secret(caught.value)


@pytest.mark.parametrize("provider", sorted(EXCHANGED))
def test_wrong_client_secret_is_refused(provider):
    with serve(provider) as server, pytest.raises(PermanentRefreshError) as caught:
        exchange_code(
            provider,
            AUTH_CODE,
            OAuthClient(CLIENT_ID, "wrong-secret-0123456789abcdef"),
            REDIRECT_URI,
            code_verifier=VERIFIER,
            metadata=METADATA[provider],
            token_url=server.url(PATHS[provider]),
        )
    expected = {
        "salesforce": "invalid_client",
        "hubspot": "BAD_CLIENT_ID",
        "pipedrive": "http_401",
        "zoho": "invalid_client_secret",
        "dynamics": "invalid_client",
    }
    assert caught.value.code == expected[provider]
    # Pipedrive's 401 reads as a dead grant (its classify); the others name our client.
    assert caught.value.reconnect_required == (provider == "pipedrive")
    assert_no_secret(caught.value)


@pytest.mark.parametrize("provider", sorted(PKCE_PROVIDERS))
def test_pkce_verifier_must_match_the_challenge(provider):
    other = "another-verifier-0123456789-abcdefghijklmnopqrstuvwxyz"
    with serve(provider) as server, pytest.raises(PermanentRefreshError) as caught:
        exchange(provider, server, code_verifier=other)
    expected = {"salesforce": "invalid_grant", "hubspot": "BAD_AUTH_CODE", "zoho": "invalid_code"}
    assert caught.value.code == expected.get(provider, "AADSTS50148")
    assert caught.value.reconnect_required
    with serve(provider) as server, pytest.raises(PermanentRefreshError):
        exchange(provider, server, code_verifier=None)  # the challenge was sent: a verifier is due
    with pytest.raises(ValueError):
        exchange_code(
            provider, AUTH_CODE, CLIENT, REDIRECT_URI, code_verifier="short", token_url="http://127.0.0.1:1/"
        )


@pytest.mark.parametrize("provider", sorted(set(EXCHANGED) - PKCE_PROVIDERS))
def test_a_verifier_is_not_sent_where_pkce_is_not_documented(provider):
    with serve(provider) as server:
        exchange(provider, server, code_verifier=VERIFIER)  # the fake refuses unknown parameters
    assert "code_verifier" not in server.received[0].form


def test_dynamics_exchange_repeats_the_authorize_scope():
    scopes = [f"https://{ORG}/.default", "offline_access"]
    with serve("dynamics", scope=" ".join(scopes)) as server:
        exchange("dynamics", server, scopes=scopes)
    with serve("dynamics") as server, pytest.raises(PermanentRefreshError) as caught:
        exchange("dynamics", server, scopes=scopes)  # the fake issued the code for the default scope
    assert caught.value.code == "invalid_scope"


def test_exchange_is_transient_on_a_5xx():
    with (
        fake.serve(
            fake.fixed(Reply(503, {"error": "temporarily_unavailable"}, {"Retry-After": "7"}))
        ) as server,
        pytest.raises(TransientRefreshError) as caught,
    ):
        exchange_code("hubspot", AUTH_CODE, CLIENT, REDIRECT_URI, token_url=server.url(PATHS["hubspot"]))
    assert caught.value.retry_after == 7


def test_exchange_token_url_from_the_environment(monkeypatch):
    with serve("hubspot") as server:
        monkeypatch.setenv(token_url_env_name("hubspot"), server.url("/oauth/v3/token"))
        result = exchange_code("hubspot", AUTH_CODE, CLIENT, REDIRECT_URI, code_verifier=VERIFIER)
    assert result.access_token == NEW_ACCESS_TOKEN


def test_zoho_exchange_against_the_fake_at_the_accounts_server_override():
    with serve("zoho") as server:
        result = exchange("zoho", server, accounts_server="https://accounts.zoho.eu")
    assert result.metadata_updates["accounts_server"] == "https://accounts.zoho.eu"
