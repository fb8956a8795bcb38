"""No rotated refresh token is ever lost: a refresh starts only with time for the whole of it
left, the provider call has a total deadline, and the tokens a provider issued are stored even
when the lease ran out meanwhile."""

import time
import uuid
from typing import Any

import fake_crms as fake
from fake_crms import Reply
from integration_credentials.adapters.budget import MARGIN_SECONDS
from integration_credentials.adapters.storage.leases import refresh_leases
from integration_credentials.core.settings import get_settings
from integration_credentials.logic.refresh import token_refresher
from integration_credentials.policy.schedule import refresh_budget_seconds

from tests.integration.conftest import load_function, mint_key
from tests.integration.test_refresh import salesforce_body
from tests.integration.test_refresh_scheduler import context, message, sqs_event, stored_item


def due_body() -> dict[str, Any]:
    body = salesforce_body()
    body["metadata"]["expires_at"] = "2000-01-01T00:00:00Z"  # expired: due as soon as stored
    return body


def budget() -> float:
    # A refresh, and the margin every invocation keeps for its answer (adapters.budget).
    return refresh_budget_seconds(get_settings()) + MARGIN_SECONDS


def test_a_worker_with_too_little_time_left_starts_no_refresh(
    api, stack, org_headers, org_id, salesforce_endpoint
):
    # Given due credentials with a rotating refresh token
    chain = fake.RotatingChain()
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, due_body()).json
    before = stored_item(stack, org_id)
    event, (message_id,) = sqs_event(message(org_id, created))
    # When the worker gets the message with less time left than a whole refresh needs
    result = load_function("refresh_worker").lambda_handler(
        event, context("refresh_worker", timeout=budget() - 2)
    )
    # Then the message goes back to the queue, the provider was never asked, nothing changed
    assert result == {"batchItemFailures": [{"itemIdentifier": message_id}]}
    assert chain.used == []
    assert stored_item(stack, org_id) == before
    # And with enough time, it is refreshed
    retried = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    assert retried == {"batchItemFailures": []}
    assert api.get(org_headers, created["id"]).json["metadata"]["refresh_token"] == chain.current


def test_a_batch_stops_starting_refreshes_when_the_time_left_runs_short(
    api, stack, salesforce_endpoint, tuned
):
    # Given a worker that refreshes one record after the other, three orgs with due credentials,
    # and a provider that takes a while to answer
    tuned(REFRESH_WORKER_CONCURRENCY="1")
    chain_delay = 1.5
    salesforce_endpoint(fake.RotatingChain(delay=chain_delay).behaviour())
    bodies = []
    for _ in range(3):
        org_id = f"org-{uuid.uuid4()}"
        headers = {"X-API-Key": mint_key(stack, org_id)}
        bodies.append(message(org_id, api.create(headers, due_body()).json))
    event, ids = sqs_event(*bodies)
    # When the invocation has time for one refresh and a bit, not for two
    result = load_function("refresh_worker").lambda_handler(
        event, context("refresh_worker", timeout=budget() + chain_delay / 2)
    )
    # Then the first is refreshed, and the two that would not fit are not started: they come back
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[1]}, {"itemIdentifier": ids[2]}]}


def test_a_record_waiting_for_a_thread_is_not_started_once_the_time_left_runs_short(
    api, stack, salesforce_endpoint, tuned
):
    # Given a worker that refreshes two records at once, three orgs with due credentials, and a
    # provider that takes a while to answer
    tuned(REFRESH_WORKER_CONCURRENCY="2")
    delay = 1.5

    def slow(received: fake.Received) -> Reply:
        time.sleep(delay)
        return fake.salesforce()(received)

    endpoint = salesforce_endpoint(slow)
    bodies = []
    for _ in range(3):
        org_id = f"org-{uuid.uuid4()}"
        headers = {"X-API-Key": mint_key(stack, org_id)}
        bodies.append(message(org_id, api.create(headers, due_body()).json))
    event, ids = sqs_event(*bodies)
    # When the invocation has time for one refresh and a bit: the first two start at once, the
    # third gets a thread only when one of them is done
    result = load_function("refresh_worker").lambda_handler(
        event, context("refresh_worker", timeout=budget() + delay / 2)
    )
    # Then the third is not started (the provider saw two requests) and comes back
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[2]}]}
    assert len(endpoint.received) == 2


def test_a_slow_drip_token_endpoint_cannot_hold_a_refresh_past_its_deadline(
    api, org_headers, salesforce_endpoint, tuned
):
    # Given a token endpoint that sends its answer one byte every 0.2 s, and a 1 s deadline
    tuned(REFRESH_HTTP_TIMEOUT_SECONDS="1")
    salesforce_endpoint(
        fake.fixed(
            Reply(200, {"access_token": "x" * 40, "instance_url": "https://a.my.salesforce.com"}, drip=0.2)
        )
    )
    created = api.create(org_headers, salesforce_body()).json
    # When the refresh is asked for
    started = time.monotonic()
    reply = api.refresh(org_headers, created["id"])
    elapsed = time.monotonic() - started
    # Then it gives up at the deadline as a transient failure, recorded, the old token kept
    assert reply.status == 503 and reply.headers.get("Retry-After")
    assert elapsed < 5, elapsed  # the drip would take about 20 s
    stored = api.get(org_headers, created["id"]).json
    assert stored["status"] == "refresh_failed" and stored["last_error"]["code"] == "timeout"
    assert stored["access_token"] == created["access_token"]


def test_tokens_issued_after_the_lease_expired_are_still_stored_and_never_replayed(
    api, stack, org_headers, org_id, salesforce_endpoint, tuned
):
    # Given rotation, and a provider call during which the refresh lease runs out and another
    # refresher takes it over (this process stalled past its lease)
    tuned(REFRESH_MIN_INTERVAL_SECONDS="0")
    chain = fake.RotatingChain()
    created = api.create(org_headers, salesforce_body()).json
    rotate = chain.behaviour()
    taken_over: list[Any] = []

    def stall_then_answer(received: fake.Received) -> Reply:
        far_future_ms = int((time.time() + 3600) * 1000)
        taken_over.append(
            refresh_leases().acquire(
                org_id, "salesforce", created["id"], "other-holder", now_ms=far_future_ms, lease_ms=60_000
            )
        )
        return rotate(received)

    salesforce_endpoint(stall_then_answer)
    # When the first refresh gets its answer after losing the lease
    reply = api.refresh(org_headers, created["id"])
    # Then the tokens the provider issued are stored (the rotated refresh token is not lost)
    assert taken_over[0] is not None  # the other holder did take the lease
    assert reply.status == 200
    stored = api.get(org_headers, created["id"]).json
    assert stored["metadata"]["refresh_token"] == chain.current
    assert stored["access_token"] == reply.json["access_token"] != created["access_token"]
    # And the other holder's lease is left alone (it is its own to release)
    assert stored_item(stack, org_id)["lease_owner"] == {"S": "other-holder"}
    # When that lease is gone and the credentials are refreshed again
    refresh_leases().release(org_id, "salesforce", "other-holder")
    salesforce_endpoint(chain.behaviour())
    assert (
        token_refresher().refresh_now(org_id, created["id"]).body["metadata"]["refresh_token"]
        == chain.current
    )
    # Then the new refresh token was presented, never the old one: the chain is alive
    assert chain.replayed == [] and not chain.revoked
    assert len(chain.used) == 2 and chain.used[0] == fake.REFRESH_TOKEN
