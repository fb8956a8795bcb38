"""fake_crms: the fake CRMs' authorize, consent and token endpoints, driven by the
service's own provider code (authorize_url, exchange_code, refresh), and their fault modes."""

import base64
import json
import urllib.error
import urllib.parse
import urllib.request

import fake_crms
import pytest
from fake_crms import PROVIDERS, Crm, FakeCrmError, FakeCrms
from integration_credentials.adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    TransientRefreshError,
    authorize_url,
    exchange_code,
    new_code_verifier,
    refresh,
    s256_challenge,
)

REDIRECT_URI = "http://127.0.0.1:3000/integration-credentials/oauth/callback"
STATE = "st4te-0123456789abcdef"
ORG = "contoso.crm4.dynamics.com"
METADATA = {provider: {} for provider in PROVIDERS} | {
    "dynamics": {"tenant_id": "organizations", "instance_url": f"https://{ORG}"}
}
PKCE_PROVIDERS = ("salesforce", "hubspot", "zoho", "dynamics")
# What the service classifies a refused code as, per provider (reconnect: the user connects again).
REFUSED_CODE = {
    "salesforce": "invalid_grant",
    "hubspot": "BAD_AUTH_CODE",
    "pipedrive": "http_400",
    "zoho": "invalid_code",
    "dynamics": "AADSTS54005",  # "OAuth2 Authorization code was already redeemed"
}


@pytest.fixture(scope="module")
def crms():
    clients = {
        "hubspot": {"client_id": "hub-app", "client_secret": "hub-secret", "redirect_uri": REDIRECT_URI}
    }
    with FakeCrms(clients) as fake:
        yield fake


def client_of(crms, provider, secret=None):
    client = crms.clients[provider]
    return OAuthClient(client["client_id"], secret or client["client_secret"])


def connect(crms, provider, *, allow=True, verifier=None, redirect_uri=REDIRECT_URI):
    """authorize -> consent: the callback's query parameters."""
    challenge = s256_challenge(verifier) if verifier else None
    url = authorize_url(
        provider,
        crms.clients[provider]["client_id"],
        redirect_uri,
        STATE,
        code_challenge=challenge,
        metadata=METADATA[provider],
        authorize_url=crms.authorize_url(provider),
    )
    location = crms.consent(url, allow=allow)
    parts = urllib.parse.urlsplit(location)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == redirect_uri
    return dict(urllib.parse.parse_qsl(parts.query, strict_parsing=True))


def exchange(crms, provider, callback, *, verifier=None, redirect_uri=REDIRECT_URI, secret=None):
    return exchange_code(
        provider,
        callback["code"],
        client_of(crms, provider, secret),
        redirect_uri,
        code_verifier=verifier,
        metadata=METADATA[provider],
        token_url=crms.token_url(provider),
        accounts_server=callback.get("accounts-server"),
    )


def verifier_of(provider):
    """A fresh PKCE verifier where the provider takes PKCE, else None."""
    return new_code_verifier() if provider in PKCE_PROVIDERS else None


def connect_and_exchange(crms, provider):
    """The whole flow with the service's code: consent (Allow), then the code exchange."""
    verifier = verifier_of(provider)
    return exchange(crms, provider, connect(crms, provider, verifier=verifier), verifier=verifier)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_connect_exchange_and_refresh_with_the_services_own_code(crms, provider):
    # Given a user who allows the app at the provider's consent page
    verifier = new_code_verifier() if provider in PKCE_PROVIDERS else None
    callback = connect(crms, provider, verifier=verifier)
    assert callback["state"] == STATE
    assert callback["code"] in crms.issued(provider)
    before = len(crms.exchanges(provider))

    # When the callback's code is exchanged, then the grant refreshed
    tokens = exchange(crms, provider, callback, verifier=verifier)
    metadata = {**METADATA[provider], **tokens.metadata_updates, "refresh_token": tokens.refresh_token}
    refreshed = refresh(provider, metadata, client_of(crms, provider), token_url=crms.token_url(provider))

    # Then both answers carry tokens the fake minted, in the provider's shape
    issued = crms.issued(provider)
    assert tokens.access_token in issued and tokens.refresh_token in issued
    assert refreshed.access_token in issued and refreshed.access_token != tokens.access_token
    assert [(e.grant_type, e.status, e.error) for e in crms.exchanges(provider)[before:]] == [
        ("authorization_code", 200, None),
        ("refresh_token", 200, None),
    ]
    expected = {
        "salesforce": (None, {"instance_url": "https://mycompany.my.salesforce.com"}),
        "hubspot": (1800, {}),
        "pipedrive": (3599, {"api_domain": "https://mycompany.pipedrive.com"}),
        "zoho": (
            3600,
            {"api_domain": "https://www.zohoapis.eu", "accounts_server": "https://accounts.zoho.eu"},
        ),
        "dynamics": (4788, {"tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47"}),
    }[provider]
    assert (tokens.expires_in, tokens.metadata_updates) == expected
    # Salesforce and Zoho send no refresh token on refresh; HubSpot and Pipedrive repeat theirs;
    # Microsoft rotates it.
    if provider in ("salesforce", "zoho"):
        assert refreshed.refresh_token is None
    elif provider == "dynamics":
        assert refreshed.refresh_token not in (None, tokens.refresh_token)
        assert refreshed.refresh_token in crms.issued(provider)
    else:
        assert refreshed.refresh_token == tokens.refresh_token


def test_zoho_callback_names_the_data_centre():
    with FakeCrms(zoho_data_centre="in") as crms:
        verifier = verifier_of("zoho")
        callback = connect(crms, "zoho", verifier=verifier)
        assert (callback["location"], callback["accounts-server"]) == ("in", "https://accounts.zoho.in")
        tokens = exchange(crms, "zoho", callback, verifier=verifier)
        assert tokens.metadata_updates["api_domain"] == "https://www.zohoapis.in"


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_code_works_once(crms, provider):
    verifier = new_code_verifier() if provider in PKCE_PROVIDERS else None
    callback = connect(crms, provider, verifier=verifier)
    exchange(crms, provider, callback, verifier=verifier)
    with pytest.raises(PermanentRefreshError) as caught:
        exchange(crms, provider, callback, verifier=verifier)
    assert caught.value.reconnect_required
    assert caught.value.code == REFUSED_CODE[provider]
    assert crms.exchanges(provider)[-1].status in (200, 400)  # Zoho answers errors with 200


@pytest.mark.parametrize("provider", PKCE_PROVIDERS)
def test_a_wrong_or_missing_verifier_is_refused(crms, provider):
    callback = connect(crms, provider, verifier=new_code_verifier())
    with pytest.raises(PermanentRefreshError) as caught:
        exchange(crms, provider, callback, verifier=new_code_verifier())
    assert (
        caught.value.code
        == {
            "salesforce": "invalid_grant",
            "hubspot": "BAD_AUTH_CODE",
            "zoho": "invalid_code",
            "dynamics": "AADSTS50148",
        }[provider]
    )
    assert caught.value.reconnect_required
    callback = connect(crms, provider, verifier=new_code_verifier())
    with pytest.raises(PermanentRefreshError):
        exchange(crms, provider, callback, verifier=None)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redirect_uri_other_than_the_authorize_ones_is_refused(crms, provider):
    verifier = new_code_verifier() if provider in PKCE_PROVIDERS else None
    callback = connect(crms, provider, verifier=verifier)
    with pytest.raises(PermanentRefreshError):
        exchange(crms, provider, callback, verifier=verifier, redirect_uri=REDIRECT_URI + "/other")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_wrong_client_secret_is_refused(crms, provider):
    verifier = new_code_verifier() if provider in PKCE_PROVIDERS else None
    callback = connect(crms, provider, verifier=verifier)
    with pytest.raises(PermanentRefreshError) as caught:
        exchange(crms, provider, callback, verifier=verifier, secret="not-the-secret")
    # Pipedrive's 401 reads as a dead grant (its classify); the others name our client.
    assert caught.value.reconnect_required == (provider == "pipedrive")
    assert "not-the-secret" not in str(caught.value)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_deny_redirects_with_access_denied(crms, provider):
    verifier = new_code_verifier() if provider in PKCE_PROVIDERS else None
    callback = connect(crms, provider, allow=False, verifier=verifier)
    assert callback["error"] == "access_denied"
    assert callback["state"] == STATE
    assert callback["error_description"]
    assert "code" not in callback


def test_an_expired_code_is_refused():
    with FakeCrms(code_lifetime_seconds=0) as crms:
        with pytest.raises(PermanentRefreshError) as caught:
            connect_and_exchange(crms, "hubspot")
        assert caught.value.code == "BAD_AUTH_CODE"


def test_a_dead_refresh_token_needs_a_reconnect(crms):
    for provider, code in (
        ("salesforce", "invalid_grant"),
        ("hubspot", "BAD_REFRESH_TOKEN"),
        ("zoho", "invalid_code"),
    ):
        metadata = {**METADATA[provider], "refresh_token": "never-issued-0123456789"}
        with pytest.raises(PermanentRefreshError) as caught:
            refresh(provider, metadata, client_of(crms, provider), token_url=crms.token_url(provider))
        assert (caught.value.code, caught.value.reconnect_required) == (code, True)


def test_zoho_limits_access_tokens_per_refresh_token(crms):
    tokens = connect_and_exchange(crms, "zoho")
    metadata = {"refresh_token": tokens.refresh_token}
    for _ in range(10):
        refresh("zoho", metadata, client_of(crms, "zoho"), token_url=crms.token_url("zoho"))
    with pytest.raises(TransientRefreshError) as caught:
        refresh("zoho", metadata, client_of(crms, "zoho"), token_url=crms.token_url("zoho"))
    assert caught.value.code == "rate_limited"


def get(url):
    opener = urllib.request.build_opener()
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def authorize_query(crms, provider, **changes):
    url = authorize_url(
        provider,
        crms.clients[provider]["client_id"],
        REDIRECT_URI,
        STATE,
        code_challenge=s256_challenge(new_code_verifier()),
        metadata=METADATA[provider],
        authorize_url=crms.authorize_url(provider),
    )
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    query.update(changes)
    return (
        crms.authorize_url(provider)
        + "?"
        + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
    )


@pytest.mark.parametrize(
    ("provider", "changes", "reason"),
    [
        ("salesforce", {"client_id": "someone-else"}, "client_id"),
        ("hubspot", {"redirect_uri": "https://elsewhere.example/cb"}, "registered"),
        ("pipedrive", {"redirect_uri": None}, "redirect_uri"),
        ("salesforce", {"response_type": "token"}, "response_type"),
        ("hubspot", {"response_type": None}, "unsupported_response_type"),
        ("pipedrive", {"response_type": None}, "unsupported_response_type"),
        ("hubspot", {"code_challenge": None, "code_challenge_method": None}, "PKCE"),
        ("zoho", {"code_challenge": None, "code_challenge_method": None}, "PKCE"),
        ("pipedrive", {"code_challenge": "x" * 43, "code_challenge_method": "S256"}, "no PKCE"),
        ("zoho", {"state": None}, "state"),
        ("hubspot", {"scope": None}, "scope"),
        ("zoho", {"access_type": "online"}, "access_type"),
        ("zoho", {"prompt": None}, "prompt"),
        ("salesforce", {"code_challenge": None, "code_challenge_method": None}, "PKCE"),
        ("dynamics", {"code_challenge_method": "plain"}, "S256"),
    ],
)
def test_authorize_refuses_what_the_provider_refuses_with_a_page(crms, provider, changes, reason):
    status, page = get(authorize_query(crms, provider, **changes))
    assert status == 400
    assert reason in page
    assert 'id="allow"' not in page


def test_the_consent_page_lists_the_scopes_and_has_allow_and_deny(crms):
    status, page = get(authorize_query(crms, "dynamics"))
    assert status == 200
    assert "Microsoft (fake) — local-dynamics-client wants access" in page
    assert f"https://{ORG}/user_impersonation" in page and "offline_access" in page
    assert '<button id="allow" type="submit" name="decision" value="allow">Allow</button>' in page
    assert 'id="deny"' in page and 'action="/dynamics/consent"' in page
    # The authorize parameters stay on the server: the page carries an opaque request id only.
    assert STATE not in page


def test_pkce_can_be_optional_and_pipedrive_takes_no_scope():
    with FakeCrms(require_pkce=False) as crms:
        callback = connect(crms, "salesforce")
        assert exchange(crms, "salesforce", callback).access_token
        callback = connect(crms, "pipedrive")
        assert exchange(crms, "pipedrive", callback).access_token


def test_a_verifier_for_a_code_issued_without_a_challenge_is_refused():
    # OAuth 2.1 section 4.1.3: the service never sends one it did not challenge with.
    with FakeCrms(require_pkce=False) as crms:
        callback = connect(crms, "hubspot")
        with pytest.raises(PermanentRefreshError) as caught:
            exchange(crms, "hubspot", callback, verifier=new_code_verifier())
        assert caught.value.code == "BAD_AUTH_CODE"


def test_token_requests_the_service_must_never_send_are_refused(crms):
    client = crms.clients["pipedrive"]

    def post(provider, body, headers, query=""):
        request = urllib.request.Request(
            crms.token_url(provider) + query, data=body.encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    # Pipedrive: client credentials in the form instead of HTTP Basic
    body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": "x", **client})
    assert post("pipedrive", body, form)[0] == 400
    basic = base64.b64encode(f"{client['client_id']}:{client['client_secret']}".encode()).decode()
    # Any provider: the grant in the query string, or not a form
    assert (
        post("pipedrive", "", {**form, "Authorization": f"Basic {basic}"}, "?grant_type=refresh_token")[0]
        == 400
    )
    assert post("salesforce", "{}", {"Content-Type": "application/json"})[0] == 400
    # Zoho answers its errors with HTTP 200
    assert post("zoho", "grant_type=password", form) == (200, {"error": "invalid_request"})


def test_the_index_lists_every_provider(crms):
    status, page = get(crms.base_url + "/")
    assert status == 200
    for provider in PROVIDERS:
        assert crms.authorize_url(provider) in page and crms.token_url(provider) in page
    assert crms.clients["hubspot"]["client_secret"] not in page


def test_env_names_every_endpoint(crms):
    env = crms.env()
    assert env["OAUTH_AUTHORIZE_URL_ZOHO"] == crms.base_url + "/zoho/authorize"
    assert env["OAUTH_TOKEN_URL_DYNAMICS"] == crms.base_url + "/dynamics/token"
    assert env["CRM_API_URL_SALESFORCE"] == crms.base_url + "/salesforce"
    assert env["OAUTH_REVOKE_URL_ZOHO"] == crms.base_url + "/zoho/revoke"
    # authorize, token and identity for every provider; revocation for all but Dynamics
    assert len(env) == 4 * len(PROVIDERS) - 1


def test_consent_refuses_other_urls_and_reports_refusals(crms):
    with pytest.raises(FakeCrmError, match="not one of this fake"):
        crms.consent("https://login.salesforce.com/services/oauth2/authorize?client_id=x")
    with pytest.raises(FakeCrmError, match="client_id"):
        crms.consent(authorize_query(crms, "salesforce", client_id="nobody"))


def test_the_request_log_never_shows_a_query_string(capsys):
    with FakeCrms(log=True) as crms:
        connect_and_exchange(crms, "hubspot")
    logged = capsys.readouterr().err
    assert "GET /hubspot/authorize 200" in logged
    assert "POST /hubspot/token 200" in logged
    assert "?" not in logged and STATE not in logged
    for secret in crms.issued("hubspot"):
        assert secret not in logged


def test_issued_tokens_are_random(crms):
    first = connect_and_exchange(crms, "hubspot")
    second = connect_and_exchange(crms, "hubspot")
    assert first.access_token != second.access_token and first.refresh_token != second.refresh_token
    assert len(first.access_token) >= 40


# ---- state and fault modes -------------------------------------------------------------------


def test_salesforce_rotation_replaces_each_refresh_token_and_a_replay_revokes_the_chain():
    with FakeCrms(salesforce_rotation=True) as crms:
        tokens = connect_and_exchange(crms, "salesforce")
        client, url = client_of(crms, "salesforce"), crms.token_url("salesforce")
        # Each refresh answers a new refresh token; the next refresh must present it
        second = refresh("salesforce", {"refresh_token": tokens.refresh_token}, client, token_url=url)
        assert second.refresh_token not in (None, tokens.refresh_token)
        third = refresh("salesforce", {"refresh_token": second.refresh_token}, client, token_url=url)
        # Replaying a used one fails and revokes the whole chain, the newest token included
        for presented in (tokens.refresh_token, third.refresh_token):
            with pytest.raises(PermanentRefreshError) as caught:
                refresh("salesforce", {"refresh_token": presented}, client, token_url=url)
            assert (caught.value.code, caught.value.reconnect_required) == ("invalid_grant", True)


def test_the_rotating_chain_reports_what_was_used_and_replayed():
    chain = fake_crms.RotatingChain()
    with fake_crms.serve(chain.behaviour()) as server:
        url, client = (
            server.url("/services/oauth2/token"),
            OAuthClient(fake_crms.CLIENT_ID, fake_crms.CLIENT_SECRET),
        )
        first = refresh("salesforce", {"refresh_token": fake_crms.REFRESH_TOKEN}, client, token_url=url)
        assert (chain.used, chain.current, chain.revoked) == (
            [fake_crms.REFRESH_TOKEN],
            first.refresh_token,
            False,
        )
        with pytest.raises(PermanentRefreshError):
            refresh("salesforce", {"refresh_token": fake_crms.REFRESH_TOKEN}, client, token_url=url)
    assert chain.replayed == [fake_crms.REFRESH_TOKEN] and chain.revoked


@pytest.mark.parametrize(
    ("state", "code"), [("revoked", "AADSTS50173"), ("inactive", "AADSTS700082"), ("active", None)]
)
def test_a_seeded_grant_answers_as_its_state_says(state, code):
    crm = Crm("dynamics", {"client_id": "app", "client_secret": "s3cret"})
    crm.grant("r-123", scope=f"https://{ORG}/user_impersonation offline_access", state=state)
    metadata = {**METADATA["dynamics"], "refresh_token": "r-123"}
    with fake_crms.serve(crm) as server:
        call = lambda: refresh(  # noqa: E731
            "dynamics", metadata, OAuthClient("app", "s3cret"), token_url=server.url("/dynamics/token")
        )
        if code is None:
            assert call().refresh_token in crm.issued()
            return
        with pytest.raises(PermanentRefreshError) as caught:
            call()
    assert (caught.value.code, caught.value.reconnect_required) == (code, True)


def test_microsoft_refuses_a_refresh_for_another_org_and_an_exchange_beyond_the_consent(crms):
    tokens = connect_and_exchange(crms, "dynamics")
    other = {
        "tenant_id": "organizations",
        "instance_url": "https://other.crm.dynamics.com",
        "refresh_token": tokens.refresh_token,
    }
    with pytest.raises(PermanentRefreshError) as caught:
        refresh("dynamics", other, client_of(crms, "dynamics"), token_url=crms.token_url("dynamics"))
    assert (caught.value.code, caught.value.reconnect_required) == ("invalid_scope", False)
    callback = connect(crms, "dynamics", verifier=(verifier := new_code_verifier()))
    with pytest.raises(PermanentRefreshError) as caught:
        exchange_code(
            "dynamics",
            callback["code"],
            client_of(crms, "dynamics"),
            REDIRECT_URI,
            code_verifier=verifier,
            scopes=[f"https://{ORG}/.default", "offline_access"],
            metadata=METADATA["dynamics"],
            token_url=crms.token_url("dynamics"),
        )
    assert caught.value.code == "invalid_scope"


def test_adopted_refresh_tokens_and_latency_for_the_bench():
    with FakeCrms(adopt_refresh_tokens=True, latency=0.05) as crms:
        client = client_of(crms, "salesforce")
        url = crms.token_url("salesforce")
        result = refresh("salesforce", {"refresh_token": "never-seen-by-the-fake"}, client, token_url=url)
        assert result.access_token in crms.issued("salesforce")
        assert (crms.server.served, crms.server.most_at_once) == (1, 1)
        with pytest.raises(PermanentRefreshError):  # the client is still checked
            refresh("salesforce", {"refresh_token": "x"}, OAuthClient("other", "s"), token_url=url)


def test_a_parameter_the_provider_does_not_document_is_refused(crms):
    client = crms.clients["hubspot"]
    body = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "refresh_token": "x", "format": "json", **client}
    )
    request = urllib.request.Request(
        crms.token_url("hubspot"),
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    assert caught.value.code == 400
    assert json.loads(caught.value.read())["status"] == "BAD_REQUEST"


def test_one_crm_alone_answers_at_its_documented_paths():
    crm = fake_crms.seeded("dynamics")
    with fake_crms.serve(crm) as server:
        for path in (
            f"/{fake_crms.DYNAMICS_TENANT_ID}/oauth2/v2.0/token",
            "/organizations/oauth2/v2.0/token",
        ):
            result = refresh(
                "dynamics",
                {
                    "tenant_id": "organizations",
                    "instance_url": f"https://{fake_crms.DYNAMICS_ORG}",
                    "refresh_token": fake_crms.REFRESH_TOKEN,
                },
                OAuthClient(fake_crms.CLIENT_ID, fake_crms.CLIENT_SECRET),
                token_url=server.url(path),
            )
            assert result.access_token == fake_crms.NEW_ACCESS_TOKEN
        assert get(server.url("/elsewhere/oauth2/v2.0/token"))[0] == 404


# ---- make run FAKE_CRMS=1 --------------------------------------------------------------------


def test_the_fakes_cover_every_refreshable_provider():
    from integration_credentials.adapters.providers import REFRESHABLE_PROVIDERS

    assert set(PROVIDERS) == REFRESHABLE_PROVIDERS


def test_make_run_points_the_functions_at_the_fakes_unless_the_developer_exported_endpoints(
    crms, monkeypatch
):
    from local_stack.devserver import fake_crm_environment, fake_crms_enabled, function_env
    from local_stack.provisioning import LocalResources
    from local_stack.template import load_template

    # Given LOCAL_FAKE_CRMS=1 and a developer who exported their own Salesforce token endpoint
    monkeypatch.setenv("LOCAL_FAKE_CRMS", "1")
    for name in crms.env():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OAUTH_TOKEN_URL_SALESFORCE", "http://127.0.0.1:9/services/oauth2/token")
    monkeypatch.setenv("CONNECT_RETURN_URLS", "http://127.0.0.1:8080/done")
    parameters = {name: f"<{name}>" for name in load_template()["Parameters"]}
    refs = {
        **parameters,
        "CredentialsTable": "t",
        "ApiKeysTable": "k",
        "IdempotencyTable": "i",
        "RefreshQueue": "q",
    }
    resources = LocalResources("t", "arn:key", "/p", refs, {("CredentialsKey", "Arn"): "arn:key"})

    # When the functions' environments are built with the fakes' endpoints
    assert fake_crms_enabled()
    env = function_env(resources, "GetCredentialsFunction", 3000, fake_crm_environment(crms))

    # Then every other provider goes to the fakes, Salesforce wholly to the developer's choice
    assert env["OAUTH_AUTHORIZE_URL_ZOHO"] == crms.authorize_url("zoho")
    assert env["OAUTH_TOKEN_URL_DYNAMICS"] == crms.token_url("dynamics")
    assert env["OAUTH_TOKEN_URL_SALESFORCE"] == "http://127.0.0.1:9/services/oauth2/token"
    assert "OAUTH_AUTHORIZE_URL_SALESFORCE" not in env
    assert env["CONNECT_RETURN_URLS"] == "http://127.0.0.1:8080/done"
    monkeypatch.setenv("LOCAL_FAKE_CRMS", "0")
    assert not fake_crms_enabled()
