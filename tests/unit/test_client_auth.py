"""CrmAuth against a fake service and a fake CRM, both httpx.MockTransports or a requests
adapter (no socket): the token where each CRM wants it, the cache, one refresh per credential
in the process on a CRM 401, then ReconnectRequired when the CRM or the grant says no."""

import asyncio
import io
import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import requests
from integration_credentials_client import AsyncClient, Client, CrmAuth, ReconnectRequired

from tests.unit.test_client_fakes import API_KEY, FakeService, client_of

OLD = "old-access-token-" + "O" * 20
NEW = "refreshed-token-" + "N" * 20


def stored(service: FakeService, provider: str, token: str = OLD, **extra: Any) -> str:
    credentials_id = str(uuid.uuid4())
    service.rows[credentials_id] = {
        "id": credentials_id,
        "provider": provider,
        "access_token": token,
        "metadata": {},
        **extra,
    }
    service.versions[credentials_id] = 1
    return credentials_id


class FakeCrm:
    """A CRM that answers 200 to `valid` tokens (wherever the request put them) and 401 else."""

    def __init__(self, valid: set[str]) -> None:
        self.valid = valid
        self.seen: list[httpx.Request] = []
        self.tokens: list[str] = []  # as each request carried it (a retry is the same object)
        self.lock = threading.Lock()

    def token_of(self, request: httpx.Request) -> str:
        authorization = request.headers.get("Authorization", "")
        return (
            authorization.partition(" ")[2]
            or request.headers.get("x-api-token")
            or request.url.params.get("api_token", "")
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.seen.append(request)
            self.tokens.append(self.token_of(request))
        return httpx.Response(200 if self.token_of(request) in self.valid else 401, json={"records": []})


@pytest.mark.parametrize(
    ("provider", "metadata", "options", "expected"),
    [
        ("salesforce", {"refresh_token": "r"}, {}, ("Authorization", f"Bearer {OLD}")),
        ("hubspot", {}, {}, ("Authorization", f"Bearer {OLD}")),
        ("zoho", {"refresh_token": "r"}, {}, ("Authorization", f"Zoho-oauthtoken {OLD}")),
        ("pipedrive", {"company_domain": "acme"}, {}, ("x-api-token", OLD)),
        ("pipedrive", {"refresh_token": "r"}, {}, ("Authorization", f"Bearer {OLD}")),
        ("my-crm", {}, {}, ("Authorization", f"Bearer {OLD}")),
        ("my-crm", {}, {"scheme": "Token"}, ("Authorization", f"Token {OLD}")),
    ],
)
def test_the_token_goes_where_each_crm_wants_it(
    provider: str, metadata: dict[str, Any], options: dict[str, Any], expected: tuple[str, str]
) -> None:
    service = FakeService()
    credentials_id = stored(service, provider, metadata=metadata)
    crm = FakeCrm({OLD})
    with httpx.Client(transport=httpx.MockTransport(crm.handle)) as http:
        response = http.get(
            "https://crm.example/api",
            auth=CrmAuth(client_of(service), credentials_id=credentials_id, **options),
        )
    assert response.status_code == 200
    name, value = expected
    assert crm.seen[0].headers[name] == value


def test_a_pipedrive_api_token_can_go_in_its_query_parameter() -> None:
    service = FakeService()
    stored(service, "pipedrive")
    crm = FakeCrm({OLD})
    with httpx.Client(transport=httpx.MockTransport(crm.handle)) as http:
        http.get(
            "https://acme.pipedrive.com/api/v1/deals?start=0",
            auth=CrmAuth(client_of(service), provider="pipedrive", token_in="api_token"),
        )
    assert crm.seen[0].url.params["api_token"] == OLD and crm.seen[0].url.params["start"] == "0"


def test_the_credential_is_read_once_and_again_shortly_before_it_expires() -> None:
    service = FakeService()
    now = [datetime(2030, 1, 1, tzinfo=UTC).timestamp()]
    expires = datetime.fromtimestamp(now[0], UTC) + timedelta(minutes=10)
    stored(service, "salesforce", expires_at=expires.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    auth = CrmAuth(client_of(service), provider="salesforce", clock=lambda: now[0])
    crm = FakeCrm({OLD})
    with httpx.Client(transport=httpx.MockTransport(crm.handle), auth=auth) as http:
        for _ in range(5):
            http.get("https://crm.example/api")
        assert service.count("GET", "/salesforce") == 1
        now[0] += 9 * 60 + 30  # 30 s before expires_at: inside the minute's margin
        http.get("https://crm.example/api")
    assert service.count("GET", "/salesforce") == 2


def test_a_crm_401_refreshes_once_and_retries_with_the_new_token() -> None:
    service = FakeService(new_token=NEW)
    credentials_id = stored(service, "salesforce", metadata={"refresh_token": "r"})
    crm = FakeCrm({NEW})
    with httpx.Client(
        transport=httpx.MockTransport(crm.handle), auth=CrmAuth(client_of(service), provider="salesforce")
    ) as http:
        response = http.post("https://crm.example/api", json={"q": "SELECT Name FROM Lead"})
    assert response.status_code == 200
    assert crm.tokens == [OLD, NEW]
    assert crm.seen[1].content == b'{"q":"SELECT Name FROM Lead"}'
    assert service.count("POST", f"{credentials_id}/refresh") == 1


def test_threads_and_tasks_meeting_the_401_together_make_one_refresh() -> None:
    service = FakeService(new_token=NEW)
    credentials_id = stored(service, "hubspot", metadata={"refresh_token": "r"})
    crm = FakeCrm({NEW})
    sync_auth = CrmAuth(client_of(service), provider="hubspot")
    async_service_client = AsyncClient(
        service.base_url, api_key=API_KEY, transport=httpx.MockTransport(service.handle)
    )
    statuses: list[int] = []
    barrier = threading.Barrier(11)

    def worker() -> None:
        with httpx.Client(transport=httpx.MockTransport(crm.handle)) as http:
            barrier.wait()
            statuses.append(
                http.get(
                    "https://crm.example/api", auth=CrmAuth(client_of_same(service), provider="hubspot")
                ).status_code
            )

    async def tasks() -> list[int]:
        auth = CrmAuth(async_service_client, provider="hubspot")
        async with httpx.AsyncClient(transport=httpx.MockTransport(crm.handle), auth=auth) as http:
            barrier.wait()
            answers = await asyncio.gather(*(http.get("https://crm.example/api") for _ in range(10)))
        return [answer.status_code for answer in answers]

    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    statuses += asyncio.run(tasks())
    for thread in threads:
        thread.join()
    assert statuses == [200] * 20
    assert service.count("POST", f"{credentials_id}/refresh") == 1
    assert sync_auth.credentials().access_token == NEW  # the process's cache, whichever instance


def test_threads_meeting_the_401_while_the_refresh_is_in_flight_wait_for_it() -> None:
    # Given a service whose refresh answers only once every worker has met the CRM's 401
    service = FakeService(new_token=NEW)
    credentials_id = stored(service, "salesforce", metadata={"refresh_token": "r"})
    crm = FakeCrm({NEW})
    all_refused = threading.Event()
    crm_handle = crm.handle

    def counting(request: httpx.Request) -> httpx.Response:
        response = crm_handle(request)
        if crm.tokens.count(OLD) == 10:
            all_refused.set()
        return response

    serve = service.serve

    def slow_refresh(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/refresh"):
            all_refused.wait(timeout=30)
        return serve(request)

    service.serve = slow_refresh  # type: ignore[method-assign]
    CrmAuth(client_of_same(service), provider="salesforce").credentials()  # read once, before
    statuses: list[int] = []

    def worker() -> None:
        with httpx.Client(transport=httpx.MockTransport(counting)) as http:
            auth = CrmAuth(client_of_same(service), provider="salesforce")
            statuses.append(http.get("https://crm.example/api", auth=auth).status_code)

    # When ten threads meet the 401 together
    threads = [threading.Thread(target=worker) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then the ten waited for one refresh and all got through
    assert all_refused.is_set() and statuses == [200] * 10
    assert service.count("POST", f"{credentials_id}/refresh") == 1


def client_of_same(service: FakeService) -> Client:
    return Client(service.base_url, api_key=API_KEY, transport=httpx.MockTransport(service.handle))


def test_a_dead_grant_or_a_second_401_is_reconnect_required() -> None:
    service = FakeService(new_token=NEW)
    service.refresh_answer = lambda cid: httpx.Response(
        409,
        json={
            "detail": f"Integration credentials {cid} need re-authorization (invalid_grant): store new tokens with PUT"
        },
    )
    credentials_id = stored(service, "salesforce", metadata={"refresh_token": "r"})
    with (
        httpx.Client(transport=httpx.MockTransport(FakeCrm(set()).handle)) as http,
        pytest.raises(ReconnectRequired) as dead,
    ):
        http.get("https://crm.example/api", auth=CrmAuth(client_of(service), credentials_id=credentials_id))
    message = str(dead.value)
    assert (
        "must reconnect salesforce" in message
        and "POST /integration-credentials/connect" in message
        and credentials_id in message
    )
    assert dead.value.status == 409 and OLD not in message

    service = FakeService(new_token=NEW)
    stored(service, "zoho", metadata={"refresh_token": "r"})
    with (
        httpx.Client(transport=httpx.MockTransport(FakeCrm(set()).handle)) as http,
        pytest.raises(ReconnectRequired) as refused,
    ):
        http.get("https://crm.example/api", auth=CrmAuth(client_of(service), provider="zoho"))
    assert refused.value.status == 401 and NEW not in str(refused.value) and OLD not in str(refused.value)
    assert service.count("POST", "/refresh") == 1  # the token it gave is final: no second refresh


class CrmAdapter(requests.adapters.BaseAdapter):
    """requests' transport, answered by a FakeCrm (no socket)."""

    def __init__(self, crm: FakeCrm) -> None:
        super().__init__()
        self.crm = crm

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        answer = self.crm.handle(
            httpx.Request(
                str(request.method),
                str(request.url),
                headers=dict(request.headers),
                content=request.body or b"",
            )
        )
        response = requests.Response()
        response.status_code, response._content, response.request = (
            answer.status_code,
            answer.content,
            request,
        )
        response.raw = io.BytesIO(answer.content)
        response.connection = self
        return response

    def close(self) -> None:
        pass


def test_as_a_requests_auth_it_refreshes_on_401_and_gives_up_on_the_second() -> None:
    service = FakeService(new_token=NEW)
    credentials_id = stored(service, "dynamics", metadata={"refresh_token": "r"})
    crm = FakeCrm({NEW})
    session = requests.Session()
    session.mount("https://", CrmAdapter(crm))
    response = session.get(
        "https://org.crm.dynamics.com/api/data/v9.2/WhoAmI",
        auth=CrmAuth(client_of(service), credentials_id=credentials_id),
    )
    assert response.status_code == 200 and crm.tokens == [OLD, NEW]
    assert len(response.history) == 1 and response.history[0].status_code == 401
    crm.valid.clear()
    with pytest.raises(ReconnectRequired):
        session.get(
            "https://org.crm.dynamics.com/api",
            auth=CrmAuth(client_of(service), credentials_id=credentials_id),
        )
    # The service answered the same token again: final for this request, no second refresh
    assert service.count("POST", f"{credentials_id}/refresh") == 2
