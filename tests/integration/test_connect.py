"""The OAuth connect flow through the real handlers: POST /integration-credentials/connect, the
provider's consent (fake CRMs on 127.0.0.1 that check redirect_uri, client credentials and the
PKCE verifier as each provider documents), then GET /integration-credentials/oauth/callback."""

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fake_crms import FakeCrms
from integration_credentials.core import settings
from integration_credentials.logic import connect
from local_stack.template import parameter_defaults

from tests.integration.conftest import CONNECT_RETURN_URLS, Stack, mint_key
from tests.integration.connect_flow import (
    CALLBACK,
    HINTS,
    PROVIDERS,
    RETURN_URL,
    callback,
    connect_through,
    fake_crms,
    landed,
    query_of,
    start,
)
from tests.plaintext import leaks_in_bytes, leaks_in_items

PKCE = {"salesforce", "hubspot", "zoho", "dynamics"}  # every provider but Pipedrive


@pytest.fixture(scope="module")
def crms(stack: Stack) -> Iterator[FakeCrms]:
    yield from fake_crms(stack)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_new_connection_stores_credentials_and_lands_on_the_return_url(api, crms, org_headers, provider):
    # Given an org without credentials for the provider
    # When its user goes through connect, consent and the callback
    before = len(crms.issued(provider))
    result = landed(connect_through(api, crms, org_headers, provider))
    # Then the browser lands on the return URL with the new credentials' id (its own query kept)
    assert result["status"] == "connected" and result["provider"] == provider and result["tab"] == "crm"
    credentials = api.get(org_headers, result["credentials_id"])
    assert credentials.status == 200
    body = credentials.json
    issued = crms.issued(provider)[before:]
    # ...holding the access and refresh token the provider issued, active and scheduled
    assert body["access_token"] in issued
    assert body["metadata"]["refresh_token"] in issued
    assert body["status"] == "active" and body["expires_at"]
    assert body["dsn"].startswith("https://")
    for key, value in HINTS[provider].items():
        assert body["metadata"][key] == value
    if provider == "salesforce":
        assert body["metadata"]["instance_url"] == body["dsn"]
    if provider in ("pipedrive", "zoho"):
        assert body["metadata"]["api_domain"] == body["dsn"]
    if provider == "zoho":
        assert body["metadata"]["accounts_server"] == "https://accounts.zoho.eu"
    if provider == "dynamics":
        assert body["metadata"]["tenant_id"] == HINTS["dynamics"]["tenant_id"]
        assert body["dsn"] == "https://contoso.crm4.dynamics.com"
    # ...and the code was exchanged once, successfully
    codes = [e for e in crms.exchanges(provider) if e.grant_type == "authorization_code"]
    assert codes[-1].status == 200 and codes[-1].error is None


@pytest.mark.parametrize("provider", PROVIDERS)
def test_the_authorize_url_carries_our_callback_a_state_and_pkce_where_supported(
    api, crms, org_headers, provider
):
    started = start(api, org_headers, provider)
    assert started.status == 201
    query = query_of(started.json["connect_url"])
    assert query["redirect_uri"] == CALLBACK
    assert query["response_type"] == "code"
    assert len(query["state"]) >= 43  # 256 random bits, base64url
    assert ("code_challenge" in query) == (provider in PKCE)
    if provider in PKCE:
        assert query["code_challenge_method"] == "S256"
    if provider == "zoho":
        assert query["access_type"] == "offline" and query["prompt"] == "consent"
    expires = time.mktime(time.strptime(started.json["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")) - time.timezone
    assert 540 <= expires - time.time() <= 610


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_reconnect_keeps_the_id_and_makes_reauth_required_credentials_active(
    api, crms, stack, org_headers, provider
):
    # Given connected credentials whose grant died (reauth_required)
    first = landed(connect_through(api, crms, org_headers, provider))
    credentials_id = first["credentials_id"]
    original = api.get(org_headers, credentials_id).json
    mark_reauth_required(stack, credentials_id)
    assert api.get(org_headers, credentials_id).json["status"] == "reauth_required"
    # When the user reconnects them
    again = landed(connect_through(api, crms, org_headers, provider, credentials_id=credentials_id))
    # Then the same id comes back, with new tokens, active, created_at kept
    assert again["credentials_id"] == credentials_id and again["status"] == "connected"
    now = api.get(org_headers, credentials_id).json
    assert now["status"] == "active"
    assert now["created_at"] == original["created_at"]
    assert now["access_token"] != original["access_token"]
    assert now["access_token"] in crms.issued(provider)
    assert now["dsn"] == original["dsn"]
    assert len(api.list(org_headers).json) == 1


def mark_reauth_required(stack: Stack, credentials_id: str) -> None:
    """What a refresh refused with invalid_grant leaves: the row reauth_required (its id mirror
    names the row, and holds nothing else)."""
    table = stack.resources.table_name
    mirror_key = {"org_id": {"S": f"ID#{credentials_id}"}, "provider": {"S": "ID"}}
    mirror = stack.dynamodb.get_item(TableName=table, Key=mirror_key)["Item"]
    stack.dynamodb.update_item(
        TableName=table,
        Key={"org_id": mirror["owner_org_id"], "provider": mirror["owner_provider"]},
        UpdateExpression="SET #status = :status REMOVE refresh_due, refresh_shard",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": {"S": "reauth_required"}},
    )


def state_of(reply: Any) -> str:
    return query_of(reply.json["connect_url"])["state"]


def test_a_reused_state_is_400_without_a_redirect_and_writes_nothing_more(api, crms, org_headers):
    started = start(api, org_headers, "hubspot")
    assert started.headers["Cache-Control"] == "no-store" and started.headers["Pragma"] == "no-cache"
    location = crms.consent(started.json["connect_url"])
    redirected = callback(api, location)
    assert redirected.status == 303
    # The redirect carries the signed result: no cache or proxy may keep it
    assert redirected.headers["Cache-Control"] == "no-store" and redirected.headers["Pragma"] == "no-cache"
    again = callback(api, location)
    assert again.status == 400
    assert "Location" not in again.headers
    assert again.json["detail"].startswith("Unknown, expired or already used OAuth state")
    assert len(api.list(org_headers).json) == 1


@pytest.mark.parametrize(
    "state",
    [None, "", "x", "not a state at all!", "A" * 43, "A" * 129],
)
def test_a_missing_malformed_or_unknown_state_is_400(api, state):
    query = {"code": "abc"} if state is None else {"code": "abc", "state": state}
    reply = callback(api, query)
    assert reply.status == 400
    assert "Location" not in reply.headers


def test_a_tampered_state_is_400_and_the_real_one_still_works(api, crms, org_headers):
    started = start(api, org_headers, "pipedrive")
    location = crms.consent(started.json["connect_url"])
    query = query_of(location)
    real = query["state"]
    tampered = real[:-1] + ("A" if real[-1] != "A" else "B")
    assert callback(api, {**query, "state": tampered}).status == 400
    assert landed(callback(api, query))["status"] == "connected"


def test_an_expired_state_is_400_and_writes_nothing(api, crms, org_headers, monkeypatch):
    monkeypatch.setenv("CONNECT_STATE_TTL_SECONDS", "1")
    settings.get_settings.cache_clear()
    connect.connector.cache_clear()
    try:
        started = start(api, org_headers, "hubspot")
        location = crms.consent(started.json["connect_url"])
        time.sleep(2.1)
        reply = callback(api, location)
    finally:
        monkeypatch.delenv("CONNECT_STATE_TTL_SECONDS")
        settings.get_settings.cache_clear()
        connect.connector.cache_clear()
    assert reply.status == 400
    assert api.list(org_headers).json == []


def test_a_state_only_ever_connects_the_org_that_started_it(api, crms, org_headers, other_org_headers):
    # The browser that finishes the flow carries no key: the state alone decides the org.
    reply = connect_through(api, crms, org_headers, "zoho")
    credentials_id = landed(reply)["credentials_id"]
    assert api.get(org_headers, credentials_id).status == 200
    assert api.get(other_org_headers, credentials_id).status == 403
    assert api.list(other_org_headers).json == []


def test_denied_consent_redirects_with_the_error_and_stores_nothing(api, crms, org_headers):
    started = start(api, org_headers, "salesforce")
    location = crms.consent(started.json["connect_url"], allow=False)
    result = landed(callback(api, location))
    assert result["error"] == "access_denied" and result["provider"] == "salesforce"
    assert "credentials_id" not in result and "status" not in result
    assert api.list(org_headers).json == []
    # The state is spent: the same redirect cannot be replayed
    assert callback(api, location).status == 400


def test_a_failed_exchange_redirects_with_exchange_failed_and_writes_nothing(api, crms, org_headers):
    started = start(api, org_headers, "dynamics")
    query = query_of(crms.consent(started.json["connect_url"]))
    result = landed(callback(api, {**query, "code": "not-the-code-the-provider-issued"}))
    assert result["error"] == "exchange_failed"
    assert api.list(org_headers).json == []
    assert crms.exchanges("dynamics")[-1].status >= 400


def test_a_provider_error_that_is_not_an_oauth_code_is_reported_generically(api, crms, org_headers):
    started = start(api, org_headers, "hubspot")
    query = {"state": state_of(started), "error": "<script>alert(1)</script>"}
    assert landed(callback(api, query))["error"] == "authorization_failed"


def test_a_callback_without_a_code_redirects_with_invalid_request(api, org_headers):
    started = start(api, org_headers, "hubspot")
    assert landed(callback(api, {"state": state_of(started)}))["error"] == "invalid_request"


def test_connecting_a_provider_the_org_already_has_is_409_with_the_seed_text(api, crms, org_headers):
    landed(connect_through(api, crms, org_headers, "salesforce"))
    reply = start(api, org_headers, "salesforce")
    assert reply.status == 409
    assert reply.json == {"detail": "Integration credentials for provider 'salesforce' already exist"}


def test_a_provider_connected_meanwhile_is_reported_and_the_first_kept(api, crms, org_headers):
    # Two connects started while the provider was free: the second callback cannot overwrite.
    first, second = start(api, org_headers, "hubspot"), start(api, org_headers, "hubspot")
    one = landed(callback(api, crms.consent(first.json["connect_url"])))
    two = landed(callback(api, crms.consent(second.json["connect_url"])))
    assert one["status"] == "connected" and two["error"] == "already_connected"
    [only] = api.list(org_headers).json
    assert only["id"] == one["credentials_id"]


def test_reconnect_refusals(api, crms, org_headers, other_org_headers):
    credentials_id = landed(connect_through(api, crms, org_headers, "pipedrive"))["credentials_id"]
    # Another org's credentials: 403, the seed's text
    theirs = start(api, other_org_headers, "pipedrive", credentials_id=credentials_id)
    assert theirs.status == 403
    assert theirs.json == {"detail": "You do not have permission to access this resource"}
    # Unknown id: 404
    unknown = str(uuid.uuid4())
    missing = start(api, org_headers, "pipedrive", credentials_id=unknown)
    assert missing.status == 404
    assert missing.json == {"detail": f"Integration credentials {unknown} not found"}
    # The id of another provider's credentials: 400
    mismatch = start(api, org_headers, "hubspot", credentials_id=credentials_id)
    assert mismatch.status == 400 and "pipedrive" in mismatch.json["detail"]
    # Not a UUID: 400
    assert start(api, org_headers, "pipedrive", credentials_id="123").status == 400


def test_credentials_deleted_before_the_reconnect_callback_are_not_recreated(api, crms, org_headers):
    credentials_id = landed(connect_through(api, crms, org_headers, "hubspot"))["credentials_id"]
    started = start(api, org_headers, "hubspot", credentials_id=credentials_id)
    assert api.delete(org_headers, credentials_id).status == 200
    result = landed(callback(api, crms.consent(started.json["connect_url"])))
    assert result["error"] == "credentials_not_found"
    assert api.list(org_headers).json == []


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example.net/crm/connected",
        "https://app.example.com/admin",  # outside the /crm/ prefix
        "https://app.example.com/crmevil/x",
        "https://app.example.com/crm/../admin",
        "https://app.example.com/crm/%2e%2e/admin",
        "https://app.example.com/crm/%252e%252e/admin",  # a server decoding twice reads ../admin
        "https://app.example.com/crm/..;/admin",  # Tomcat and Spring read ..;/ as ../
        "https://app.example.com@evil.example.net/crm/",
        "https://user:pw@app.example.com/crm/",
        "http://app.example.com/crm/connected",  # scheme differs
        "https://app.example.com:8443/crm/connected",  # port differs
        "javascript:alert(1)//app.example.com/crm/",
        "//app.example.com/crm/",
        "/crm/connected",
        "https://app.example.com/crm/\\evil",
        "https://app.example.com/crm/ x",
        "http://127.0.0.1.evil.example.net:8080/",
    ],
)
def test_a_return_url_outside_the_allow_list_is_400(api, org_headers, return_url):
    reply = start(api, org_headers, "hubspot", return_url=return_url)
    assert reply.status == 400, return_url
    assert reply.json["detail"].startswith("Validation error: return_url")


@pytest.mark.parametrize(
    "return_url",
    ["https://app.example.com/crm/", "https://APP.example.com:443/crm/x#done", "http://127.0.0.1:5173/cb"],
)
def test_return_urls_on_the_allow_list_are_accepted(api, org_headers, return_url):
    assert CONNECT_RETURN_URLS  # https://app.example.com/crm/ and http://127.0.0.1:*
    assert start(api, org_headers, "hubspot", return_url=return_url).status == 201


def test_a_provider_without_a_connect_client_is_400(api, org_headers):
    body = {"provider": "my-crm", "return_url": RETURN_URL}
    reply = api.call("connect_credentials", headers=org_headers, body=body)
    assert reply.status == 400
    assert reply.json["detail"] == (
        "Validation error: provider 'my-crm' has no connect flow "
        "(one of: dynamics, hubspot, pipedrive, salesforce, zoho)"
    )


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"provider": "pipedrive", "return_url": RETURN_URL, "scopes": ["deals:read"]}, "scope"),
        (
            {
                "provider": "salesforce",
                "return_url": RETURN_URL,
                "metadata": {"login_url": "https://evil.force.com"},
            },
            "login_url",
        ),
        (
            {
                "provider": "salesforce",
                "return_url": RETURN_URL,
                "metadata": {"login_url": "https://evil\\x.my.salesforce.com"},
            },
            "login_url",
        ),
        ({"provider": "dynamics", "return_url": RETURN_URL}, "instance_url"),
        ({"provider": "zoho", "return_url": RETURN_URL, "metadata": {"data_center": "mars"}}, "data_center"),
        ({"provider": "hubspot", "return_url": RETURN_URL, "optional_scopes": []}, "optional_scopes"),
        ({"provider": "hubspot", "return_url": RETURN_URL, "scopes": ["a b"]}, "scopes"),
        ({"provider": "hubspot"}, "return_url"),
        ({"provider": "hubspot", "return_url": RETURN_URL, "extra": 1}, "extra"),
    ],
)
def test_hints_and_scopes_a_provider_cannot_take_are_400(api, org_headers, body, needle):
    reply = api.call("connect_credentials", headers=org_headers, body=body)
    assert reply.status == 400, reply.raw
    assert needle in reply.json["detail"]


def test_connect_needs_the_write_scope(api, stack, org_id):
    read_only = {"X-API-Key": mint_key(stack, org_id, frozenset({"credentials:read"}))}
    reply = start(api, read_only, "hubspot")
    assert reply.status == 403
    assert api.call("connect_credentials", headers={}, body={}).status == 401


def test_two_browsers_presenting_one_state_at_once_connect_once(api, crms, org_headers):
    started = start(api, org_headers, "salesforce")
    location = crms.consent(started.json["connect_url"])
    replies: list[Any] = []
    barrier = threading.Barrier(4)

    def present() -> None:
        barrier.wait()
        replies.append(callback(api, location))

    threads = [threading.Thread(target=present) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(reply.status for reply in replies)
    assert statuses == [303, 400, 400, 400]
    assert len(api.list(org_headers).json) == 1
    codes = [e for e in crms.exchanges("salesforce") if e.grant_type == "authorization_code"]
    assert codes[-1].status == 200


def test_kms_down_at_the_callback_is_503_and_consumes_nothing(api, stack, crms, org_headers):
    started = start(api, org_headers, "hubspot")
    location = crms.consent(started.json["connect_url"])
    # A cold callback instance: it must ask KMS for the state's data key.
    connect.connector.cache_clear()
    from integration_credentials.adapters.crypto import cipher
    from integration_credentials.logic import credentials as service

    cipher.credentials_cipher.cache_clear()
    service.credentials_service.cache_clear()
    stack.aws.fail("kms", "KMSInternalException", 500)
    try:
        reply = callback(api, location)
    finally:
        stack.aws.heal()
    assert reply.status == 503
    assert reply.headers.get("Retry-After")
    assert api.list(org_headers).json == []
    # Nothing was consumed: the same redirect works once KMS answers
    assert landed(callback(api, location))["status"] == "connected"


def test_no_token_or_verifier_in_any_url_log_or_table_item(api, stack, crms, org_headers, captured_logs):
    before = {provider: len(crms.issued(provider)) for provider in PROVIDERS}
    urls: list[str] = []
    for provider in ("salesforce", "zoho"):
        started = start(api, org_headers, provider)
        urls.append(started.json["connect_url"])
        reply = callback(api, crms.consent(started.json["connect_url"]))
        urls.append(reply.headers["Location"])
    issued = [secret for provider in PROVIDERS for secret in crms.issued(provider)[before[provider] :]]
    tokens = [secret for secret in issued if len(secret) > 20]
    assert tokens
    states = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint).scan(
        TableName=stack.resources.refs["ConnectStatesTable"]
    )["Items"]
    assert leaks_in_bytes(" ".join(urls), tokens) == []
    assert leaks_in_bytes(captured_logs.getvalue(), tokens) == []
    assert leaks_in_items(stack.scan(), tokens) == []
    assert leaks_in_items(states, tokens) == []


def test_the_callback_takes_no_api_key_and_ignores_one(api, crms, org_headers, other_org_headers):
    # A key sent along (another org's) neither authenticates nor redirects the flow: the state does.
    started = start(api, org_headers, "hubspot")
    query = query_of(crms.consent(started.json["connect_url"]))
    reply = api.call("oauth_callback", headers=other_org_headers, query=query)
    credentials_id = landed(reply)["credentials_id"]
    assert api.get(org_headers, credentials_id).status == 200
    assert api.list(other_org_headers).json == []


@pytest.fixture
def ssm_parameter(stack: Stack) -> Iterator[Any]:
    """Take an SSM parameter away for one test (put back after it); the cache is cleared both times."""
    from integration_credentials.adapters.parameters import clear_parameter_cache

    ssm = boto3.client("ssm", endpoint_url=stack.aws.endpoint)
    taken: list[dict[str, Any]] = []

    def take_away(name: str) -> None:
        found = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]
        taken.append(found)
        ssm.delete_parameter(Name=name)
        clear_parameter_cache()

    yield take_away
    for found in taken:
        ssm.put_parameter(Name=found["Name"], Value=found["Value"], Type=found["Type"], Overwrite=True)
    clear_parameter_cache()


def test_a_provider_whose_oauth_client_id_is_not_configured_is_400(api, org_headers, ssm_parameter):
    from integration_credentials.core.constants import oauth_client_id_parameter

    prefix = parameter_defaults()["OAuthClientParameterPrefix"]
    ssm_parameter(oauth_client_id_parameter(prefix, "zoho"))
    reply = start(api, org_headers, "zoho")
    assert reply.status == 400
    assert reply.json == {"detail": "Validation error: no OAuth client configured for provider 'zoho'"}


def test_step_one_needs_the_client_id_and_never_the_client_secret(api, crms, org_headers, ssm_parameter):
    # Given the provider's client secret parameter gone (the connect function may not read it)
    prefix = parameter_defaults()["OAuthClientParameterPrefix"]
    ssm_parameter(prefix + "hubspot")
    # When step 1 runs, then the authorize URL names the app by its client id
    started = start(api, org_headers, "hubspot")
    assert started.status == 201, started.raw
    assert query_of(started.json["connect_url"])["client_id"] == crms.clients["hubspot"]["client_id"]
