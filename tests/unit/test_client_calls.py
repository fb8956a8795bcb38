"""The client against a fake of the service on an httpx.MockTransport (no socket): each route as
the service documents it, typed results and exceptions, the retry rules, and no token in any
repr, exception text or log record."""

import asyncio
import logging
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.policy.disclosure import is_secret_key as service_is_secret_key
from integration_credentials_client import (
    BadRequest,
    Client,
    ConnectionFailed,
    Credentials,
    NotFound,
    PreconditionFailed,
    ReauthorizationRequired,
    ServiceUnavailable,
    TooManyRequests,
    Unauthorized,
)
from integration_credentials_client.models import is_secret_key

from tests.unit.test_client_fakes import (
    ACCOUNT,
    API_KEY,
    BASE,
    REFUSED_TOKEN,
    FakeService,
    Sleeps,
    async_client_of,
    body_of,
    client_of,
)

TOKEN = "00D5g000001234567!AQYAQ-secret-access-token"
REFRESH = "5Aep861-secret-refresh-token"
METADATA = {
    "instance_url": "https://acme.my.salesforce.com",
    "refresh_token": REFRESH,
    "nested": {"clientSecret": "cs-secret-value"},
}


def lost(request: httpx.Request) -> Exception:
    return httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


def unavailable(retry_after: str = "2") -> Any:
    return lambda request: httpx.Response(
        503,
        json={"detail": "Service temporarily unavailable (DynamoDB); retry later"},
        headers={"Retry-After": retry_after},
    )


def test_every_route_as_the_service_documents_it() -> None:
    service = FakeService()
    client = client_of(service)
    # create: the seed's trailing slash, the body as given, an Idempotency-Key made by the client
    created = client.create("salesforce", "https://acme.my.salesforce.com", TOKEN, METADATA)
    post = service.received[-1]
    assert (post.method, post.url.path) == ("POST", f"{BASE}/")
    assert body_of(post) == {
        "provider": "salesforce",
        "dsn": "https://acme.my.salesforce.com",
        "access_token": TOKEN,
        "metadata": METADATA,
    }
    assert post.headers["X-API-Key"] == API_KEY and len(post.headers["Idempotency-Key"]) >= 32
    assert created.etag == '"1"' and created.access_token == TOKEN and created.metadata == METADATA
    # get, get_by_provider carry the ETag
    assert client.get(created.id).etag == '"1"'
    assert client.get_by_provider("salesforce").id == created.id
    # update: a merge patch, If-Match sent; a stale one is PreconditionFailed with the current ETag
    updated = client.update(
        created.id, access_token="new-" + TOKEN, metadata={"nested": None}, if_match=created.etag
    )
    assert service.received[-1].headers["If-Match"] == '"1"'
    assert (
        updated.etag == '"2"'
        and "nested" not in updated.metadata
        and updated.metadata["refresh_token"] == REFRESH
    )
    with pytest.raises(PreconditionFailed) as stale:
        client.update(created.id, dsn="x", if_match='"1"')
    assert stale.value.status == 412 and stale.value.current_etag == '"2"'
    # refresh: POST .../refresh
    refreshed = client.refresh(created.id)
    assert service.received[-1].url.path == f"{BASE}/{created.id}/refresh"
    assert refreshed.access_token == service.new_token
    # connect: POST /connect with only the fields given
    started = client.connect("hubspot", "https://app.example/done", scopes=("crm.objects.contacts.read",))
    assert body_of(service.received[-1]) == {
        "provider": "hubspot",
        "return_url": "https://app.example/done",
        "scopes": ["crm.objects.contacts.read"],
    }
    assert started.connect_url.startswith("https://crm.example/authorize")
    # delete, then 404 with the service's detail
    client.delete(created.id, if_match='"3"')
    assert service.received[-1].headers["If-Match"] == '"3"'
    with pytest.raises(NotFound) as missing:
        client.get(created.id)
    assert (
        missing.value.status == 404
        and missing.value.detail == f"Integration credentials {created.id} not found"
    )


def test_list_pages_through_every_credential_with_the_link_header() -> None:
    service = FakeService()
    client = client_of(service)
    providers = [f"crm-{index:02d}" for index in range(7)]
    for provider in providers:
        client.create(provider, "dsn", TOKEN)
    listed = [credentials.provider for credentials in client.list(page_size=3)]
    assert listed == providers
    pages = [r for r in service.received if r.method == "GET"]
    assert [r.url.params.get("cursor") for r in pages] == [None, "crm-02", "crm-05"]

    async def collect() -> list[str]:
        async with async_client_of(service) as client:
            return [credentials.provider async for credentials in client.list(page_size=2)]

    assert asyncio.run(collect()) == providers


def test_unknown_fields_are_kept_and_the_repr_masks_every_secret() -> None:
    body = {
        "id": "c-1",
        "provider": "salesforce",
        "access_token": TOKEN,
        "metadata": METADATA,
        "health": {"api_token": "x-secret-x"},
        "added_later": 1,
    }
    credentials = Credentials.from_json(body, etag='"4"')
    assert credentials.extra == {"health": {"api_token": "x-secret-x"}, "added_later": 1}
    shown = repr(credentials) + str(credentials) + f"{credentials}"
    for secret in (TOKEN, REFRESH, "cs-secret-value", "x-secret-x"):
        assert secret not in shown
    assert "https://acme.my.salesforce.com" in shown and "'4'" not in shown and "'\"4\"'" in shown


@given(st.text(max_size=40))
def test_the_secret_key_rule_is_the_services(name: str) -> None:
    assert is_secret_key(name) == service_is_secret_key(name)


@pytest.mark.parametrize(
    ("status", "detail", "kind"),
    [
        (400, "Validation error: provider field is required", BadRequest),
        (401, "Invalid or missing authentication credentials", Unauthorized),
        (
            409,
            "Integration credentials c-1 need re-authorization (invalid_grant): store new tokens with PUT",
            ReauthorizationRequired,
        ),
        (
            429,
            "The organization already has the maximum of 20 connect links in progress; retry when one is used or expires",
            TooManyRequests,
        ),
    ],
)
def test_an_error_answer_is_its_exception_with_status_and_detail(
    status: int, detail: str, kind: type[Exception]
) -> None:
    service = FakeService(script=[lambda request: httpx.Response(status, json={"detail": detail})])
    with pytest.raises(kind) as raised:
        client_of(service, attempts=1).get("c-1")
    assert (raised.value.status, raised.value.detail) == (status, detail)  # type: ignore[attr-defined]
    assert str(raised.value) == f"{status} {detail}"


def test_a_body_that_is_not_the_services_is_never_repeated() -> None:
    service = FakeService(script=[lambda request: httpx.Response(502, text=f"<html>{TOKEN}</html>")])
    with pytest.raises(Exception) as raised:
        client_of(service, attempts=1).get("c-1")
    assert TOKEN not in str(raised.value) and raised.value.detail == "HTTP 502 Bad Gateway"  # type: ignore[attr-defined]


def test_a_503_is_retried_after_its_retry_after() -> None:
    service, sleeps = FakeService(), Sleeps()
    client = client_of(service, sleeps)
    created = client.create("salesforce", "dsn", TOKEN)
    service.script += [unavailable("2"), unavailable("3")]
    assert client.get(created.id).id == created.id
    assert sleeps.waits == [2.0, 3.0]


def test_a_429_and_a_connection_error_are_retried_with_backoff() -> None:
    service, sleeps = FakeService(), Sleeps()
    client = client_of(service, sleeps, backoff_seconds=0.5)
    created = client.create("salesforce", "dsn", TOKEN)
    service.script += [
        lambda r: httpx.Response(429, json={"detail": "slow down"}),
        lambda r: httpx.ConnectError("refused", request=r),
    ]
    assert client.get(created.id).id == created.id
    assert sleeps.waits == [0.5, 1.0]  # backoff without Retry-After (jitter at its top here)


def test_retries_are_bounded_in_attempts_and_in_time() -> None:
    service, sleeps = FakeService(), Sleeps()
    service.script += [unavailable("1")] * 10
    with pytest.raises(ServiceUnavailable) as raised:
        client_of(service, sleeps, attempts=3).get("c-1")
    assert len(service.received) == 3 and raised.value.retry_after == 1.0
    service, sleeps = FakeService(), Sleeps()
    service.script += [unavailable("20"), unavailable("20")]
    with pytest.raises(ServiceUnavailable):
        client_of(service, sleeps, total_seconds=30).get("c-1")
    assert sleeps.waits == [20.0] and len(service.received) == 2  # a second 20 s would pass 30 s


def test_a_create_whose_answer_was_lost_is_retried_with_its_key_and_stores_one() -> None:
    service = FakeService()
    service.script.append(lambda request: (service.serve(request), lost(request))[1])
    created = client_of(service).create("salesforce", "dsn", TOKEN)
    posts = [r for r in service.received if r.method == "POST"]
    assert len(posts) == 2 and posts[0].headers["Idempotency-Key"] == posts[1].headers["Idempotency-Key"]
    assert list(service.rows) == [created.id]


def test_an_update_is_retried_only_with_if_match() -> None:
    service = FakeService()
    client = client_of(service)
    created = client.create("salesforce", "dsn", TOKEN)
    service.script += [unavailable("1")]
    with pytest.raises(ServiceUnavailable):
        client.update(created.id, dsn="other")
    service.script += [lambda request: (service.serve(request), lost(request))[1]]
    with pytest.raises(ConnectionFailed) as raised:
        client.update(created.id, dsn="other")
    assert raised.value.status is None and "update" in str(raised.value)
    puts = [r for r in service.received if r.method == "PUT"]
    assert len(puts) == 2  # each sent once
    service.script += [unavailable("1"), lambda r: httpx.ReadTimeout("timed out", request=r)]
    current = client.get(created.id)
    assert client.update(created.id, dsn="third", if_match=current.etag).dsn == "third"


def test_a_delete_is_retried_only_when_it_surely_did_nothing() -> None:
    service = FakeService()
    client = client_of(service)
    created = client.create("salesforce", "dsn", TOKEN)
    service.script += [unavailable("1"), lambda r: httpx.ConnectError("refused", request=r)]
    client.delete(created.id)
    other = client.create("hubspot", "dsn", TOKEN)
    service.script += [lambda request: (service.serve(request), lost(request))[1]]
    with pytest.raises(ConnectionFailed):
        client.delete(other.id)
    assert service.count("DELETE", other.id) == 1


def test_a_delete_revokes_unless_told_to_keep_the_grant() -> None:
    service = FakeService()
    client = client_of(service)
    kept, revoked = client.create("salesforce", "dsn", TOKEN), client.create("hubspot", "dsn", TOKEN)
    # revoke=False says so in the query; the default sends no parameter (the service revokes)
    client.delete(kept.id, revoke=False)
    assert dict(service.received[-1].url.params) == {"revoke": "false"}
    client.delete(revoked.id)
    assert dict(service.received[-1].url.params) == {}

    async def run() -> None:
        async with async_client_of(service, Sleeps()) as client:
            created = await client.create("zoho", "dsn", TOKEN)
            await client.delete(created.id, revoke=False)
            assert dict(service.received[-1].url.params) == {"revoke": "false"}

    asyncio.run(run())


def test_no_token_in_logs_reprs_or_exception_text(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    service = FakeService()
    client = client_of(service)
    created = client.create("salesforce", "dsn", TOKEN, METADATA)
    service.script += [
        unavailable("1"),
        lambda r: httpx.ConnectError(f"refused {TOKEN}", request=r),
        lambda r: httpx.ReadError("reset", request=r),
    ]
    client.update(created.id, access_token=TOKEN + "2", if_match=created.etag)
    errors: list[str] = []
    for answer in (
        unavailable("1"),
        lambda r: httpx.Response(400, json={"detail": "Validation error: dsn must be a string"}),
    ):
        service.script += [answer] * 5
        with pytest.raises(Exception) as raised:
            client.update(created.id, access_token=TOKEN, metadata=METADATA)
        errors += [str(raised.value), repr(raised.value)]
        service.script.clear()
    service.script += [lambda r: httpx.ConnectError(f"refused {TOKEN}", request=r)] * 5
    with pytest.raises(ConnectionFailed) as unreachable:
        client.get(created.id)
    errors += [str(unreachable.value), repr(unreachable.value)]
    text = "\n".join(
        [*errors, repr(client), caplog.text, *(str(record.__dict__) for record in caplog.records)]
    )
    assert "retrying" in caplog.text
    for secret in (TOKEN, REFRESH, API_KEY, "cs-secret-value"):
        assert secret not in text


def test_the_async_client_has_the_same_surface() -> None:
    service, sleeps = FakeService(), Sleeps()

    async def run() -> None:
        async with async_client_of(service, sleeps) as client:
            created = await client.create("zoho", "dsn", TOKEN, {"api_domain": "https://www.zohoapis.eu"})
            service.script += [unavailable("2")]
            assert (await client.get(created.id)).etag == '"1"'
            assert (await client.get_by_provider("zoho")).id == created.id
            assert (await client.update(created.id, dsn="d2", if_match='"1"')).dsn == "d2"
            assert (await client.refresh(created.id)).access_token == service.new_token
            assert (await client.verify(created.id)).account == ACCOUNT
            assert (await client.create("hubspot", "dsn", TOKEN, verify=True)).account == ACCOUNT
            assert service.received[-1].url.params["verify"] == "true"
            assert (await client.connect("zoho", "https://app.example/done")).state_hash == "h"
            await client.delete(created.id)
            with pytest.raises(NotFound):
                await client.get(created.id)

    asyncio.run(run())
    assert sleeps.waits == [2.0]


def test_a_client_takes_one_of_api_key_and_token() -> None:
    with pytest.raises(ValueError):
        Client("https://svc.example")
    service = FakeService()
    client = Client(service.base_url, token="jwt-value-123456", transport=httpx.MockTransport(service.handle))
    with pytest.raises(Unauthorized):
        client.get("c-1")
    assert service.received[-1].headers["Authorization"] == "Bearer jwt-value-123456"


def test_verify_and_a_verified_create() -> None:
    service = FakeService()
    client = client_of(service)
    created = client.create("pipedrive", "https://acme.pipedrive.com", TOKEN)
    # A create without verify sends no parameter: the seed's create
    assert "verify" not in service.received[-1].url.params
    assert created.account is None and created.verified_at is None
    # verify: POST .../verify, the non-secret fields after the check
    verified = client.verify(created.id)
    request = service.received[-1]
    assert (request.method, request.url.path) == ("POST", f"{BASE}/{created.id}/verify")
    assert verified.account == ACCOUNT and verified.verified_at == "2030-01-01T00:00:00.000000Z"
    assert verified.access_token is None and verified.etag == '"2"'
    # create(verify=True): ?verify=true; a token the CRM refuses is BadRequest, nothing stored
    client.delete(created.id)
    with pytest.raises(BadRequest) as refused:
        client.create("pipedrive", "https://acme.pipedrive.com", REFUSED_TOKEN, verify=True)
    assert service.received[-1].url.params["verify"] == "true"
    assert "The CRM rejected these credentials" in str(refused.value)
    assert service.rows == {}
    assert client.create("pipedrive", "dsn", TOKEN, verify=True).account == ACCOUNT


def test_connect_sends_allow_account_change_only_when_true() -> None:
    service = FakeService()
    cid = "8e1f2c8a-6f1e-4d59-9a39-2f3b0c7d9e10"
    with client_of(service) as client:
        client.connect(
            "salesforce", "https://app.example/done", credentials_id=cid, allow_account_change=True
        )
        assert body_of(service.received[-1]) == {
            "provider": "salesforce",
            "return_url": "https://app.example/done",
            "credentials_id": cid,
            "allow_account_change": True,
        }
        client.connect("salesforce", "https://app.example/done", credentials_id=cid)
        assert "allow_account_change" not in body_of(service.received[-1])

    async def run() -> None:
        async with async_client_of(service) as client:
            await client.connect(
                "zoho", "https://app.example/done", credentials_id=cid, allow_account_change=True
            )
            assert body_of(service.received[-1])["allow_account_change"] is True

    asyncio.run(run())
