"""The refresh worker refreshes the records of a batch at once (each waits on its provider), at
most REFRESH_WORKER_CONCURRENCY at a time, each under its own lease: a credential enqueued twice
in one batch is still refreshed once. The time budget per record is in test_refresh_faults.py."""

import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import fake_crms as fake
import pytest
from fake_crms import Reply

from tests.integration.conftest import load_function, mint_key
from tests.integration.test_refresh_scheduler import TOKEN_PATH, context, create_due, message, sqs_event

PROVIDER_LATENCY = 0.3


class InFlight:
    """A Salesforce token endpoint that answers after PROVIDER_LATENCY, counting the requests it
    is serving at once."""

    def __init__(self) -> None:
        self.now = 0
        self.most = 0
        self._lock = threading.Lock()
        self._answer = fake.salesforce()

    def behaviour(self, received: fake.Received) -> Reply:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
        try:
            time.sleep(PROVIDER_LATENCY)
            return self._answer(received)
        finally:
            with self._lock:
                self.now -= 1


@pytest.fixture
def in_flight(tuned: Any) -> Iterator[tuple[InFlight, fake.FakeEndpoint]]:
    counter = InFlight()
    with fake.serve(counter.behaviour) as endpoint:
        tuned(OAUTH_TOKEN_URL_SALESFORCE=endpoint.url(TOKEN_PATH))
        yield counter, endpoint


def due_messages(api: Any, stack: Any, count: int) -> list[tuple[str, dict[str, Any], dict[str, str]]]:
    """Due Salesforce credentials in `count` orgs: (org_id, created body, headers) each."""
    made = []
    for _ in range(count):
        org_id = f"org-{uuid.uuid4()}"
        headers = {"X-API-Key": mint_key(stack, org_id)}
        made.append((org_id, create_due(api, headers), headers))
    return made


def test_the_records_of_a_batch_are_refreshed_at_once(api, stack, in_flight):
    # Given ten due credentials and a provider that takes a while to answer each refresh
    counter, endpoint = in_flight
    made = due_messages(api, stack, 10)
    event, _ids = sqs_event(*(message(org_id, created) for org_id, created, _ in made))
    # When the worker processes their batch
    result = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    # Then none comes back, the provider was asked once for each, and several at the same time
    assert result == {"batchItemFailures": []}
    assert len(endpoint.received) == 10
    assert counter.most > 1, counter.most
    # And each credential carries its new token
    for _org_id, created, headers in made:
        body = api.get(headers, created["id"]).json
        assert body["access_token"] == fake.NEW_ACCESS_TOKEN and body["status"] == "active"


def test_a_worker_never_refreshes_more_records_at_once_than_its_setting(api, stack, in_flight, tuned):
    # Given a worker that may refresh three at once, and seven due credentials
    tuned(REFRESH_WORKER_CONCURRENCY="3")
    counter, endpoint = in_flight
    made = due_messages(api, stack, 7)
    event, _ids = sqs_event(*(message(org_id, created) for org_id, created, _ in made))
    # When the worker processes their batch
    result = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    # Then all are refreshed, never more than three at a time
    assert result == {"batchItemFailures": []}
    assert len(endpoint.received) == 7
    assert 1 < counter.most <= 3, counter.most


def test_a_credential_enqueued_twice_in_one_batch_is_refreshed_once(api, stack, in_flight):
    # Given one due credential whose message is in the batch four times
    _counter, endpoint = in_flight
    ((org_id, created, headers),) = due_messages(api, stack, 1)
    event, _ids = sqs_event(*([message(org_id, created)] * 4))
    # When the worker processes the batch, the four at once
    result = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    # Then the lease lets one refresh through: the provider is asked once, nothing comes back
    assert result == {"batchItemFailures": []}
    assert len(endpoint.received) == 1
    assert api.get(headers, created["id"]).json["access_token"] == fake.NEW_ACCESS_TOKEN
