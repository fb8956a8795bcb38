"""Scheduled verification on embedded AWS: credentials no refresh touches carry a due time in the
sparse `refresh-due` index, spread over VERIFY_INTERVAL_SECONDS; a scheduler run enqueues them on
the refresh queue and the worker verifies them (the CRM's identity call replaced by a fake)."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import fake_crms as fake
import pytest

from tests.integration.conftest import load_function
from tests.integration.test_refresh import item, salesforce_body
from tests.integration.test_refresh_scheduler import (
    context,
    drain,
    keys_of,
    message,
    run_scheduler,
    sqs_client,
    sqs_event,
)
from tests.integration.test_verify import ACME, PIPEDRIVE_TOKEN, created, pipedrive_body, rejected

DAY = 86_400


def make_due(stack: Any, org_id: str, provider: str, due: int) -> None:
    """Move a stored credential's due time (the scheduler's index key) to `due`."""
    stack.dynamodb.update_item(
        TableName=stack.resources.table_name,
        Key={"org_id": {"S": org_id}, "provider": {"S": provider}},
        UpdateExpression="SET refresh_due = :due",
        ExpressionAttributeValues={":due": {"N": str(due)}},
    )


def due_of(stack: Any, org_id: str, provider: str) -> int | None:
    stored = item(stack, org_id, provider)
    return int(stored["refresh_due"]["N"]) if "refresh_due" in stored else None


def test_credentials_no_refresh_touches_are_scheduled_for_verification_within_the_interval(
    api, stack, org_headers, org_id
):
    before = time.time()
    created(api, org_headers, pipedrive_body())
    hubspot_pat = {
        "provider": "hubspot",
        "dsn": "https://api.hubapi.com",
        "access_token": "pat-na1-" + "0" * 32,
        "metadata": {},
    }
    created(api, org_headers, hubspot_pat)
    created(api, org_headers, {"provider": "custom", "dsn": "https://crm.example.com", "access_token": "t"})
    for provider in ("pipedrive", "hubspot"):
        due = due_of(stack, org_id, provider)
        assert due is not None and before < due <= time.time() + DAY, provider
    # A provider without an identity call is never scheduled
    assert due_of(stack, org_id, "custom") is None


@pytest.fixture
def queue(stack: Any) -> Iterator[str]:
    """A queue of this test's own, standing for the refresh queue."""
    sqs = sqs_client(stack)
    url: str = sqs.create_queue(QueueName=f"verify-scheduler-test-{uuid.uuid4().hex[:16]}")["QueueUrl"]
    yield url
    sqs.delete_queue(QueueUrl=url)


def test_a_due_credential_without_a_refresh_token_is_verified_by_a_scheduler_and_a_worker_run(
    api, stack, org_headers, org_id, crm, queue, event_queue
):
    # Given Pipedrive credentials holding an API token, due for their verification
    body = created(api, org_headers, pipedrive_body())
    now = int(time.time())
    make_due(stack, org_id, "pipedrive", now - 5)
    # When the scheduler runs, then their message is on the queue (the refresh queue's form)
    run_scheduler(stack, queue, now=time.time())
    messages = keys_of(drain(stack, queue))
    assert (org_id, "pipedrive", body["id"]) in messages
    # When the worker takes it
    event, _ids = sqs_event(message(org_id, body))
    result = load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    # Then the credentials were verified with their stored token: account and time recorded
    assert result == {"batchItemFailures": []}
    assert [call["access_token"] for call in crm.calls] == [PIPEDRIVE_TOKEN]
    read = api.get(org_headers, body["id"]).json
    assert read["account"] == ACME.as_json() and read["verified_at"] is not None
    assert read["status"] == "active" and read["access_token"] == PIPEDRIVE_TOKEN
    # And the next verification is a period later, in the same slot
    next_due = due_of(stack, org_id, "pipedrive")
    assert next_due is not None and now < next_due <= now + DAY
    # And nothing changed that an event would announce
    assert event_queue() == []
    # When SQS delivers the message again, nothing more happens (not due any more)
    load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    assert len(crm.calls) == 1


def test_a_scheduled_verification_of_a_refused_token_ends_the_schedule_with_the_event(
    api, stack, org_headers, org_id, crm, event_queue
):
    body = created(api, org_headers, pipedrive_body())
    make_due(stack, org_id, "pipedrive", int(time.time()) - 5)
    crm.default = rejected()
    event, _ids = sqs_event(message(org_id, body))
    assert load_function("refresh_worker").lambda_handler(event, context("refresh_worker")) == {
        "batchItemFailures": []
    }
    read = api.get(org_headers, body["id"]).json
    assert read["status"] == "reauth_required" and read["last_error"]["code"] == "http_401"
    assert due_of(stack, org_id, "pipedrive") is None
    assert [e["detail-type"] for e in event_queue()] == ["Integration Credentials Reauthorization Required"]


def test_a_crm_that_is_down_is_asked_again_after_a_backoff(api, stack, org_headers, org_id, crm):
    from integration_credentials.adapters.providers import TransientRefreshError

    body = created(api, org_headers, pipedrive_body())
    make_due(stack, org_id, "pipedrive", int(time.time()) - 5)
    crm.default = TransientRefreshError("http_503", "the CRM answered 503", retry_after=120)
    event, _ids = sqs_event(message(org_id, body))
    load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    read = api.get(org_headers, body["id"]).json
    assert read["status"] == "active" and read["last_error"]["code"] == "http_503"
    # Not a day later: backed off from now, at least the CRM's Retry-After
    due = due_of(stack, org_id, "pipedrive")
    assert due is not None and time.time() + 110 <= due <= time.time() + 3700


def test_a_refresh_token_makes_it_a_refresh_again_and_no_verification(
    api, stack, org_headers, org_id, crm, salesforce_endpoint
):
    # Given Salesforce credentials without a refresh token: verified by schedule
    salesforce_endpoint_calls = salesforce_endpoint(fake.salesforce())
    body = salesforce_body()
    del body["metadata"]["refresh_token"]
    stored = created(api, org_headers, body)
    verify_due = due_of(stack, org_id, "salesforce")
    assert verify_due is not None
    # A PUT that changes nothing about the tokens keeps the verification's time
    api.update(org_headers, stored["id"], {"dsn": "https://acme2.my.salesforce.com"})
    assert due_of(stack, org_id, "salesforce") == verify_due
    # A refresh asked for is 409 (nothing to refresh with) and keeps it too
    assert api.refresh(org_headers, stored["id"]).status == 409
    assert due_of(stack, org_id, "salesforce") == verify_due
    # When a PUT brings a refresh token, the due time is a refresh's again, and the worker refreshes
    api.update(org_headers, stored["id"], {"metadata": {"refresh_token": "fresh-refresh"}})
    make_due(stack, org_id, "salesforce", int(time.time()) - 5)
    event, _ids = sqs_event(message(org_id, stored))
    load_function("refresh_worker").lambda_handler(event, context("refresh_worker"))
    assert len(salesforce_endpoint_calls.received) == 1
    assert crm.calls == []


def test_a_put_that_changes_no_token_keeps_a_refresh_due_time(api, stack, org_headers, org_id):
    # A PUT reads the credentials by id (their mirror names the row, read next): the due time is kept
    stored = created(api, org_headers, salesforce_body())
    refresh_due = due_of(stack, org_id, "salesforce")
    assert refresh_due is not None
    assert api.update(org_headers, stored["id"], {"dsn": "https://acme2.my.salesforce.com"}).status == 200
    assert due_of(stack, org_id, "salesforce") == refresh_due


@pytest.mark.parametrize("provider", ["pipedrive"])
def test_a_put_removing_the_refresh_token_schedules_a_verification(api, stack, org_headers, org_id, provider):
    body = {
        **pipedrive_body(),
        "metadata": {"refresh_token": "rt", "api_domain": "https://acme.pipedrive.com"},
    }
    stored = created(api, org_headers, body)
    refresh_due = due_of(stack, org_id, provider)
    api.update(org_headers, stored["id"], {"metadata": {"refresh_token": None}})
    verify_due = due_of(stack, org_id, provider)
    assert verify_due is not None and verify_due != refresh_due
    assert time.time() < verify_due <= time.time() + DAY


def test_a_verification_keeps_the_refresh_due_time_behind_a_mirror_that_copied_an_older_row(
    api, stack, org_headers, org_id, crm
):
    from integration_credentials.adapters.storage.credentials import credentials_repository
    from integration_credentials.adapters.storage.keys import credentials_key, id_mirror_key

    # Given refreshable credentials whose id mirror is a whole copy of the row without a due
    # time (as mirrors were written before they held only the row's key)
    stored = created(api, org_headers, salesforce_body())
    refresh_due = due_of(stack, org_id, "salesforce")
    table = stack.resources.table_name
    row = stack.dynamodb.get_item(TableName=table, Key=credentials_key(org_id, "salesforce"))["Item"]
    copy = {name: value for name, value in row.items() if name not in {"refresh_due", "refresh_shard"}}
    copy |= {**id_mirror_key(stored["id"]), "owner_org_id": row["org_id"], "owner_provider": row["provider"]}
    stack.dynamodb.put_item(TableName=table, Item=copy)
    credentials_repository().clear_caches()  # a verifier that has not seen the id: reads the mirror
    # When they are verified, then the row keeps its refresh schedule (read from the row)
    assert api.verify(org_headers, stored["id"]).status == 200
    assert due_of(stack, org_id, "salesforce") == refresh_due
