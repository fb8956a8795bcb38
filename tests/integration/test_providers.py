"""OAuth token refresh per provider (the layer's provider clients) against the fake CRMs on
127.0.0.1: each provider's documented answers and errors, and the faults of an HTTP endpoint
(outages, rate limits, slow, dripping, silent, redirecting or hostile answers, TLS)."""

import base64
import datetime
import ipaddress
import json
import re
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from email.utils import formatdate

import fake_crms as fake
import pytest
from fake_crms import (
    CLIENT_ID,
    CLIENT_SECRET,
    NEW_ACCESS_TOKEN,
    NEW_REFRESH_TOKEN,
    REFRESH_TOKEN,
    Reply,
)
from integration_credentials.adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    TokenRefresh,
    TransientRefreshError,
    refresh,
)
from integration_credentials.core.errors import CredentialsError

CLIENT = OAuthClient(CLIENT_ID, CLIENT_SECRET)
SECRETS = (CLIENT_SECRET, REFRESH_TOKEN, NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN)
TENANT = fake.DYNAMICS_TENANT_ID
ORG = "contoso.crm4.dynamics.com"
# Each provider's documented token path, which the fake serves.
PATHS = {
    "salesforce": "/services/oauth2/token",
    "hubspot": "/oauth/v3/token",
    "pipedrive": "/oauth/token",
    "zoho": "/oauth/v2/token",
    "dynamics": f"/{TENANT}/oauth2/v2.0/token",
}
METADATA = {
    "salesforce": {"instance_url": "https://mycompany.my.salesforce.com", "refresh_token": REFRESH_TOKEN},
    "hubspot": {"portal_id": "12345678", "refresh_token": REFRESH_TOKEN},
    "pipedrive": {"company_domain": "mycompany", "refresh_token": REFRESH_TOKEN},
    "zoho": {"data_center": "eu", "refresh_token": REFRESH_TOKEN},
    "dynamics": {"tenant_id": TENANT, "instance_url": f"https://{ORG}", "refresh_token": REFRESH_TOKEN},
}


def behaviour(provider: str, mode: str = "ok") -> fake.Crm:
    """The provider's fake holding the grant REFRESH_TOKEN (dead: inactive; throttled: Zoho's
    window used up) for CLIENT."""
    return fake.seeded(provider, mode, tenant=TENANT, org=ORG)


def assert_no_secret(error: BaseException) -> None:
    texts = [str(error), repr(error), getattr(error, "code", ""), getattr(error, "message", "")]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    assert error.__cause__ is None or not any(s in repr(error.__cause__) for s in SECRETS)


def test_salesforce_refresh_has_no_expiry_and_updates_instance_url():
    with fake.serve(fake.salesforce()) as server:
        result = refresh(
            "salesforce", METADATA["salesforce"], CLIENT, token_url=server.url(PATHS["salesforce"])
        )
    assert result == TokenRefresh(
        access_token=NEW_ACCESS_TOKEN,
        refresh_token=None,
        expires_in=None,
        metadata_updates={"instance_url": "https://mycompany.my.salesforce.com"},
        token_type="Bearer",
        scope="refresh_token api",
    )
    [received] = server.received
    assert received.query == {}
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in received.headers
    assert received.form == {
        "grant_type": ["refresh_token"],
        "refresh_token": [REFRESH_TOKEN],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
    }


def test_hubspot_refresh_returns_refresh_token_and_30_minutes():
    with fake.serve(fake.hubspot()) as server:
        result = refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert result.access_token == NEW_ACCESS_TOKEN
    # HubSpot answers the refresh token it was given (PROVIDERS.md: store it); the layer reports
    # the answer's (Salesforce's and Zoho's answers without one report None, below).
    assert result.refresh_token == REFRESH_TOKEN
    assert result.expires_in == 1800
    assert result.metadata_updates == {}
    [received] = server.received
    assert received.form == {
        "grant_type": ["refresh_token"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH_TOKEN],
    }


def test_camel_case_token_response_is_understood():
    body = {
        "accessToken": NEW_ACCESS_TOKEN,
        "refreshToken": NEW_REFRESH_TOKEN,
        "expiresIn": 1800,
        "tokenType": "bearer",
        "hubId": 123,
    }
    with fake.serve(fake.fixed(Reply(200, body))) as server:
        result = refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert result == TokenRefresh(NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN, 1800, {}, "bearer", None)


def test_pipedrive_refresh_uses_basic_auth_and_stores_api_domain():
    with fake.serve(fake.pipedrive()) as server:
        result = refresh("pipedrive", METADATA["pipedrive"], CLIENT, token_url=server.url(PATHS["pipedrive"]))
    assert result.access_token == NEW_ACCESS_TOKEN
    assert result.refresh_token == REFRESH_TOKEN
    assert result.expires_in == 3599
    assert result.metadata_updates == {"api_domain": "https://mycompany.pipedrive.com"}
    [received] = server.received
    expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert received.headers["authorization"] == f"Basic {expected}"
    assert received.form == {"grant_type": ["refresh_token"], "refresh_token": [REFRESH_TOKEN]}
    assert CLIENT_SECRET.encode() not in received.body


def test_zoho_refresh_sends_its_secret_in_the_body_and_keeps_refresh_token():
    with fake.serve(fake.zoho()) as server:
        result = refresh("zoho", METADATA["zoho"], CLIENT, token_url=server.url(PATHS["zoho"]))
    assert result.access_token == NEW_ACCESS_TOKEN
    assert result.refresh_token is None
    assert result.expires_in == 3600
    assert result.metadata_updates == {"api_domain": "https://www.zohoapis.eu"}
    [received] = server.received
    assert received.method == "POST"
    assert received.query == {}  # no secret in a URL (proxy and access logs)
    assert received.headers["content-type"] == "application/x-www-form-urlencoded"
    assert received.form == {
        "refresh_token": [REFRESH_TOKEN],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "grant_type": ["refresh_token"],
    }


@pytest.mark.parametrize(
    ("metadata", "dsn"),
    [
        ({"instance_url": f"https://{ORG}/"}, None),
        ({"resource": f"https://{ORG}"}, None),
        ({}, f"https://{ORG}/api/data/v9.2"),
    ],
)
def test_dynamics_refresh_scopes_the_org_and_rotates(metadata, dsn):
    metadata = {"tenant_id": TENANT, "refresh_token": REFRESH_TOKEN, **metadata}
    with fake.serve(behaviour("dynamics")) as server:
        result = refresh("dynamics", metadata, CLIENT, token_url=server.url(PATHS["dynamics"]), dsn=dsn)
    assert result.access_token == NEW_ACCESS_TOKEN
    assert result.refresh_token == NEW_REFRESH_TOKEN
    assert result.expires_in == 4788
    [received] = server.received
    assert received.form == {
        "grant_type": ["refresh_token"],
        "client_id": [CLIENT_ID],
        "client_secret": [CLIENT_SECRET],
        "refresh_token": [REFRESH_TOKEN],
        "scope": [f"https://{ORG}/.default offline_access"],
    }


@pytest.mark.parametrize(
    ("provider", "code"),
    [
        ("salesforce", "invalid_grant"),
        ("hubspot", "BAD_REFRESH_TOKEN"),
        ("pipedrive", "http_400"),
        ("zoho", "invalid_code"),
        ("dynamics", "AADSTS700082"),
    ],
)
def test_dead_refresh_token_is_permanent(provider, code):
    with fake.serve(behaviour(provider, "dead")) as server, pytest.raises(PermanentRefreshError) as caught:
        refresh(provider, METADATA[provider], CLIENT, token_url=server.url(PATHS[provider]))
    assert caught.value.code == code
    assert caught.value.reconnect_required
    assert isinstance(caught.value, CredentialsError)
    assert len(caught.value.message) <= 200
    assert_no_secret(caught.value)


def test_dynamics_error_message_keeps_description_but_not_trace_ids():
    with (
        fake.serve(behaviour("dynamics", "dead")) as server,
        pytest.raises(PermanentRefreshError) as caught,
    ):
        refresh("dynamics", METADATA["dynamics"], CLIENT, token_url=server.url(PATHS["dynamics"]))
    assert caught.value.message.startswith("AADSTS700082: The refresh token has expired due to inactivity.")
    # The fake's trace and correlation ids are fresh UUIDs: none of them reaches the message.
    assert re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", caught.value.message) is None


@pytest.mark.parametrize(
    ("provider", "code"),
    [
        ("salesforce", "invalid_client"),
        ("hubspot", "BAD_CLIENT_ID"),
        ("pipedrive", "http_401"),  # 401 {"success": false, "message": "Invalid client: ..."}
        ("zoho", "invalid_client_secret"),
        ("dynamics", "invalid_client"),
    ],
)
def test_wrong_client_is_permanent_and_not_a_reconnect(provider, code):
    wrong = "wrong-secret-0123456789abcdefghij"
    with fake.serve(behaviour(provider)) as server, pytest.raises(PermanentRefreshError) as caught:
        refresh(
            provider, METADATA[provider], OAuthClient(CLIENT_ID, wrong), token_url=server.url(PATHS[provider])
        )
    error = caught.value
    assert_no_secret(error)
    assert wrong not in str(error)
    assert error.code == code
    # Pipedrive: any 400/401 from its token endpoint counts as a dead grant (PROVIDERS.md).
    assert error.reconnect_required == (provider == "pipedrive")


def test_zoho_too_many_requests_is_transient():
    with fake.serve(fake.zoho("throttled")) as server, pytest.raises(TransientRefreshError) as caught:
        refresh("zoho", METADATA["zoho"], CLIENT, token_url=server.url(PATHS["zoho"]))
    assert caught.value.code == "rate_limited"


@pytest.mark.parametrize("provider", sorted(PATHS))
def test_503_is_transient(provider):
    reply = Reply(503, b"<html>Service Unavailable</html>", {"Retry-After": "12"})
    with fake.serve(fake.fixed(reply)) as server, pytest.raises(TransientRefreshError) as caught:
        refresh(provider, METADATA[provider], CLIENT, token_url=server.url(PATHS[provider]))
    assert caught.value.code == "http_503"
    assert caught.value.retry_after == 12
    assert_no_secret(caught.value)


@pytest.mark.parametrize("provider", sorted(PATHS))
def test_429_honours_retry_after(provider):
    reply = Reply(
        429, {"status": "error", "message": "You have reached your secondly limit."}, {"Retry-After": "7"}
    )
    with fake.serve(fake.fixed(reply)) as server, pytest.raises(TransientRefreshError) as caught:
        refresh(provider, METADATA[provider], CLIENT, token_url=server.url(PATHS[provider]))
    assert caught.value.retry_after == 7
    assert caught.value.message == "You have reached your secondly limit."


def test_retry_after_as_http_date():
    when = formatdate(time.time() + 30, usegmt=True)
    with (
        fake.serve(fake.fixed(Reply(429, {}, {"Retry-After": when}))) as server,
        pytest.raises(TransientRefreshError) as caught,
    ):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert caught.value.code == "rate_limited"
    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 31


def test_timeout_is_transient():
    reply = Reply(200, {"access_token": NEW_ACCESS_TOKEN}, delay=0.3)
    started = time.monotonic()
    with fake.serve(fake.fixed(reply)) as server, pytest.raises(TransientRefreshError) as caught:
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]), timeout=0.1)
    assert caught.value.code == "timeout"
    assert time.monotonic() - started < 1
    assert_no_secret(caught.value)


# ---- timeout is a total deadline, not a per-read one -------------------------------------------

DRIP_BODY = {"access_token": NEW_ACCESS_TOKEN, "expires_in": 60}


def assert_timed_out_at_deadline(call, deadline: float) -> None:
    started = time.monotonic()
    with pytest.raises(TransientRefreshError) as caught:
        call()
    elapsed = time.monotonic() - started
    assert caught.value.code == "timeout"
    assert caught.value.message == "token endpoint timed out"
    # Not before the deadline, and not much after it (generous for slow CI).
    assert deadline - 0.1 <= elapsed < deadline + 1.5
    assert_no_secret(caught.value)


@pytest.mark.parametrize("drip_headers", [True, False], ids=["status-headers-and-body", "body-only"])
def test_slow_drip_answer_cannot_outlast_the_deadline(drip_headers):
    # Each byte comes well within any per-read timeout; the whole answer would take many seconds.
    reply = Reply(200, DRIP_BODY, drip=0.2, drip_headers=drip_headers)
    with fake.serve(fake.fixed(reply)) as server:
        url = server.url(PATHS["hubspot"])
        assert_timed_out_at_deadline(
            lambda: refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=url, timeout=1.0), 1.0
        )
        assert len(server.received) == 1


def test_slow_drip_error_answer_is_a_timeout_too():
    reply = Reply(503, b"<html>Service Unavailable</html>" * 4, {"Retry-After": "5"}, drip=0.2)
    with fake.serve(fake.fixed(reply)) as server:
        url = server.url(PATHS["salesforce"])
        assert_timed_out_at_deadline(
            lambda: refresh("salesforce", METADATA["salesforce"], CLIENT, token_url=url, timeout=0.6), 0.6
        )


def test_quick_drip_within_the_deadline_still_works():
    reply = Reply(200, DRIP_BODY, drip=0.001)
    with fake.serve(fake.fixed(reply)) as server:
        result = refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert result.access_token == NEW_ACCESS_TOKEN
    assert result.expires_in == 60


@contextmanager
def silent_server(tls: bool = False):
    """Accepts connections and never sends a byte (nor, over TLS, its half of the handshake)."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{listener.getsockname()[1]}/token"
    finally:
        stop.set()
        thread.join()
        for connection in accepted:
            connection.close()
        listener.close()
        assert accepted, "the client never connected"


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_endpoint_that_never_answers_times_out_at_the_deadline(tls):
    with silent_server(tls) as url:
        assert_timed_out_at_deadline(
            lambda: refresh("salesforce", METADATA["salesforce"], CLIENT, token_url=url, timeout=1.0), 1.0
        )


def test_slow_name_resolution_counts_against_the_deadline(monkeypatch):
    real = socket.getaddrinfo

    def slow(*args, **kwargs):
        time.sleep(3)
        return real(*args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    assert_timed_out_at_deadline(
        lambda: refresh(
            "hubspot",
            METADATA["hubspot"],
            CLIENT,
            token_url="http://token.invalid/oauth/v3/token",
            timeout=0.5,
        ),
        0.5,
    )


def test_request_declares_host_length_and_close():
    with fake.serve(fake.pipedrive()) as server:
        refresh("pipedrive", METADATA["pipedrive"], CLIENT, token_url=server.url(PATHS["pipedrive"]))
    [received] = server.received
    assert received.headers["host"] == server.base_url.removeprefix("http://")
    assert received.headers["content-length"] == str(len(received.body))
    assert received.headers["connection"] == "close"
    assert received.headers["accept"] == "application/json"


def test_oversized_body_is_not_parsed():
    body = {"access_token": NEW_ACCESS_TOKEN, "padding": "x" * 70_000}
    with (
        fake.serve(fake.fixed(Reply(200, body))) as server,
        pytest.raises(TransientRefreshError) as caught,
    ):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert caught.value.code == "invalid_response"


# ---- HTTPS: certificates are verified ----------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory):
    """A CA and a certificate it signed for localhost and 127.0.0.1."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test token CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "cert.pem").write_bytes(
        certificate.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder


def server_context(tls_files) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls_files / "cert.pem")
    return context


def test_https_refresh_with_a_trusted_certificate(tls_files, monkeypatch):
    default_context = ssl.create_default_context

    def trusting_test_ca(*args, **kwargs):
        context = default_context(*args, **kwargs)
        context.load_verify_locations(tls_files / "ca.pem")
        return context

    monkeypatch.setattr(ssl, "create_default_context", trusting_test_ca)
    with fake.serve(fake.hubspot(), tls=server_context(tls_files), host_name="localhost") as server:
        result = refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert result.access_token == NEW_ACCESS_TOKEN
    [received] = server.received
    assert received.headers["host"] == server.base_url.removeprefix("https://")


def test_https_certificate_is_verified(tls_files):
    with (
        fake.serve(fake.hubspot(), tls=server_context(tls_files), host_name="localhost") as server,
        pytest.raises(TransientRefreshError) as caught,
    ):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]), timeout=2)
    assert caught.value.code == "connection_error"
    assert server.received == []


def test_connection_refused_is_transient():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TransientRefreshError) as caught:
        refresh(
            "salesforce", METADATA["salesforce"], CLIENT, token_url=f"http://127.0.0.1:{port}/t", timeout=1
        )
    assert caught.value.code == "connection_error"
    assert caught.value.retry_after is None


def test_success_without_access_token_is_transient():
    with (
        fake.serve(fake.fixed(Reply(200, {"token_type": "Bearer"}))) as server,
        pytest.raises(TransientRefreshError, match="invalid_response"),
    ):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))


def test_redirect_is_not_followed():
    reply = Reply(302, b"", {"Location": "http://127.0.0.1:1/elsewhere"})
    with fake.serve(fake.fixed(reply)) as server, pytest.raises(PermanentRefreshError) as caught:
        refresh("salesforce", METADATA["salesforce"], CLIENT, token_url=server.url(PATHS["salesforce"]))
    assert caught.value.code == "http_302"
    assert not caught.value.reconnect_required
    assert len(server.received) == 1


def test_error_bodies_echoing_secrets_are_redacted():
    body = {
        "error": "invalid_grant",
        "error_description": f"token {REFRESH_TOKEN} for client {CLIENT_SECRET} bearer "
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.sig123 " + "x" * 400,
        "refresh_token": NEW_REFRESH_TOKEN,
    }
    with fake.serve(fake.fixed(Reply(400, body))) as server, pytest.raises(PermanentRefreshError) as caught:
        refresh("salesforce", METADATA["salesforce"], CLIENT, token_url=server.url(PATHS["salesforce"]))
    assert_no_secret(caught.value)
    assert "eyJhbGciOiJIUzI1NiJ9" not in caught.value.message
    assert caught.value.message.startswith("token [redacted] for client [redacted] bearer [redacted]")
    assert len(caught.value.message) <= 200


def test_token_like_error_code_is_not_reported():
    with (
        fake.serve(fake.fixed(Reply(400, {"error": REFRESH_TOKEN}))) as server,
        pytest.raises(PermanentRefreshError) as caught,
    ):
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert caught.value.code == "http_400"
    assert_no_secret(caught.value)


def test_environment_variable_overrides_the_endpoint(monkeypatch):
    with fake.serve(fake.salesforce()) as server:
        monkeypatch.setenv("OAUTH_TOKEN_URL_SALESFORCE", server.url(PATHS["salesforce"]))
        result = refresh("salesforce", METADATA["salesforce"], CLIENT)
    assert result.access_token == NEW_ACCESS_TOKEN
    assert len(server.received) == 1


def test_explicit_token_url_wins_over_environment(monkeypatch):
    monkeypatch.setenv("OAUTH_TOKEN_URL_HUBSPOT", "http://127.0.0.1:1/never")
    with fake.serve(fake.hubspot()) as server:
        refresh("hubspot", METADATA["hubspot"], CLIENT, token_url=server.url(PATHS["hubspot"]))
    assert len(server.received) == 1


# ---- hostile answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "read_as"),
    [
        (1800, 1800),
        ("3599", 3599),  # Azure AD v1 sends a string
        (-5, None),
        (0, None),
        ("NaN", None),
        ("1e400", None),
        ("soon", None),
        (True, None),
        (10**12, 86400),  # capped at a day
        (1e300, 86400),
    ],
)
def test_a_providers_expires_in_is_bounded(expires_in, read_as):
    body = {"access_token": "new-access-token", "refresh_token": "r2", "expires_in": expires_in}
    with fake.serve(fake.fixed(Reply(200, body))) as server:
        result = refresh(
            "hubspot", {"refresh_token": "r"}, OAuthClient("c", "s"), token_url=server.url("/oauth/v3/token")
        )
    assert result.expires_in == read_as


def test_a_provider_token_that_is_not_utf8_is_no_token():
    raw = '{"access_token": "a\\ud800b", "expires_in": 60}'
    with fake.serve(fake.fixed(Reply(200, json.loads(raw)))) as server, pytest.raises(Exception) as failed:
        refresh(
            "hubspot", {"refresh_token": "r"}, OAuthClient("c", "s"), token_url=server.url("/oauth/v3/token")
        )
    assert getattr(failed.value, "code", None) == "invalid_response"
