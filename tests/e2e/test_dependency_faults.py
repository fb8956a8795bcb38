"""Over HTTP on the local stack, while its embedded AWS fails DynamoDB and KMS calls at random (the
stack's own processes, its own retries and Timeouts): every answer is the truth about a completed
write or a 503 with Retry-After and a `detail` after which the write is absent; the org's count
ends where its rows do (a create whose answer was lost: tests/integration/test_lost_answers.py)."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from local_stack.aws_faults import RemoteFaults

from tests.fault_clients import ROUNDS, THREADS, Client, inject_random_faults, org_count, run_concurrently
from tests.reply import Reply

from .conftest import BASE, TABLE_NAME, Api, Org, RunningStack, aws_client


def reply(response: requests.Response) -> Reply:
    return Reply.of_http(response)


class HttpRoutes:
    """The routes over HTTP, with the in-process suite's shorthands."""

    def __init__(self, api: Api) -> None:
        self.api = api

    def create(
        self, headers: dict[str, str], body: Any, headers_extra: dict[str, str] | None = None
    ) -> Reply:
        return reply(self.api.post(f"{BASE}/", {**headers, **(headers_extra or {})}, json=body))

    def get(self, headers: dict[str, str], credentials_id: str) -> Reply:
        return reply(self.api.get(f"{BASE}/{credentials_id}", headers))

    def get_by_provider(self, headers: dict[str, str], provider: str) -> Reply:
        return reply(self.api.get(f"{BASE}/provider/{provider}", headers))

    def list(self, headers: dict[str, str]) -> Reply:
        return reply(self.api.get(f"{BASE}/", headers))

    def update(self, headers: dict[str, str], credentials_id: str, body: Any) -> Reply:
        return reply(self.api.put(f"{BASE}/{credentials_id}", headers, json=body))

    def delete(self, headers: dict[str, str], credentials_id: str) -> Reply:
        return reply(self.api.delete(f"{BASE}/{credentials_id}", headers))


@pytest.fixture
def faults(stack: RunningStack) -> Iterator[RemoteFaults]:
    remote = RemoteFaults(stack.aws_endpoint)
    yield remote
    remote.heal()


def test_every_answer_over_http_under_random_faults_tells_the_truth(
    api: Api, stack: RunningStack, make_org: Callable[..., Org], faults: RemoteFaults
) -> None:
    # Given one org, six sync jobs each with its own provider, and DynamoDB and KMS failing at random
    org = make_org()
    dynamodb = aws_client(stack, "dynamodb")
    routes = HttpRoutes(api)
    clients = [Client(routes, dynamodb, TABLE_NAME, org.org_id, org.key, index) for index in range(THREADS)]
    assert routes.list(org.key).status == 200  # every instance may still look the key up under faults
    # Higher rates than in process: the stack's botocore makes 3 attempts where the suite's makes 2,
    # and the run must still meet 503s (two in five DynamoDB calls, a quarter of KMS calls fail).
    inject_random_faults(faults, dynamodb_rate=0.1, kms_rate=0.06)
    # When they create (every other one with an Idempotency-Key), read, update and delete at once
    try:
        run_concurrently(clients)
    finally:
        faults.heal()
    # Then every answer was checked on the way, and the org ends as it began
    assert routes.list(org.key).json == []
    assert org_count(dynamodb, TABLE_NAME, org.org_id) == 0
    assert sum(client.unavailable for client in clients) > 0
    assert sum(client.answers for client in clients) >= THREADS * ROUNDS * 9
