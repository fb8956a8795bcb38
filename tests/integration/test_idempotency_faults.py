"""Idempotent create under DynamoDB faults: a create whose write committed answers its 201 whatever
happens to the idempotency record, and a retry with the same key and body answers the same 201,
with the same id, whatever state the first attempt left the record in."""

import uuid

import pytest
from local_stack.aws_faults import ANY_FUNCTION

from tests.conftest import SEED_BODIES
from tests.integration.conftest import reset_process_state
from tests.integration.test_failures import assert_unavailable
from tests.integration.test_idempotency import create_with_key, idempotency_items

CUSTOM_BODY = {
    "provider": "custom",
    "dsn": "https://crm.example.com",
    "access_token": "custom-token-0001",
    "metadata": {},
}


@pytest.fixture(autouse=True)
def _fresh_instance():
    # botocore's retry quota is per client: the faults of earlier tests drain it, and botocore
    # then stops retrying. Each test here starts on an instance of its own.
    reset_process_state()


def record_ids(stack):
    return {item["id"]["S"] for item in idempotency_items(stack)}


def only_new_record(stack, before):
    (record,) = [item for item in idempotency_items(stack) if item["id"]["S"] not in before]
    return record


def test_a_create_whose_record_cannot_be_completed_answers_its_201(api, stack, org_headers):
    # Given a DynamoDB that refuses every completion of an idempotency record (its UpdateItem)
    key = str(uuid.uuid4())
    before = record_ids(stack)
    stack.aws.inject("dynamodb", "throttle", operations=["UpdateItem"], callers=[ANY_FUNCTION])
    # When a create with a key commits its credentials
    first = create_with_key(api, org_headers, SEED_BODIES["salesforce"], key)
    # Then it answers their 201, though the record stays in progress
    assert first.status == 201, first.raw
    assert only_new_record(stack, before)["status"]["S"] == "INPROGRESS"
    assert api.get_by_provider(org_headers, "salesforce").json == first.json
    # And a retry with the same key and body is the same 201, with or without the fault
    for heal in (False, True):
        if heal:
            stack.aws.heal()
        retry = create_with_key(api, org_headers, SEED_BODIES["salesforce"], key)
        assert (retry.status, retry.json, retry.headers["ETag"]) == (201, first.json, first.headers["ETag"])
    # While another body under the key is still refused, and nothing else was stored
    other = create_with_key(
        api, org_headers, {**SEED_BODIES["salesforce"], "access_token": "other-token"}, key
    )
    assert (other.status, other.json) == (
        409,
        {"detail": "Idempotency-Key was already used with a different request body"},
    )
    assert [c["id"] for c in api.list(org_headers).json] == [first.json["id"]]


def test_a_retry_after_the_first_attempts_record_expired_in_progress_answers_the_original_201(
    api, stack, org_headers
):
    # Given a create whose record was left in progress, and has since expired (its Lambda's time)
    key = str(uuid.uuid4())
    before = record_ids(stack)
    stack.aws.inject("dynamodb", "server_error", operations=["UpdateItem"], callers=[ANY_FUNCTION])
    first = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    assert first.status == 201, first.raw
    stack.aws.heal()
    record = only_new_record(stack, before)
    stack.dynamodb.update_item(
        TableName=stack.resources.refs["IdempotencyTable"],
        Key={"id": record["id"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": "1000"}},
    )
    # When the client retries: the record is taken again and the create meets its own row
    retry = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    # Then it is the original 201, now recorded as completed
    assert (retry.status, retry.json) == (201, first.json)
    assert only_new_record(stack, before)["status"]["S"] == "COMPLETED"
    assert create_with_key(api, org_headers, SEED_BODIES["hubspot"], key).json == first.json


def test_a_lost_answer_to_the_records_put_is_not_taken_for_another_request_in_progress(
    api, stack, org_headers
):
    # Given a DynamoDB that stores the in-progress record and loses its answer, once
    key = str(uuid.uuid4())
    stack.aws.inject("dynamodb", "lost", operations=["PutItem"], times=1, callers=[ANY_FUNCTION])
    # When a create with a key runs (botocore retries the put, which meets the record it stored)
    reply = create_with_key(api, org_headers, SEED_BODIES["pipedrive"], key)
    # Then it goes on and creates, instead of answering that the key is in progress
    assert reply.status == 201, reply.raw
    assert stack.aws.faults_left("dynamodb") == 0
    assert create_with_key(api, org_headers, SEED_BODIES["pipedrive"], key).json == reply.json


def test_a_first_attempt_that_never_learnt_its_outcome_is_answered_by_the_retry(
    api, stack, org_id, org_headers
):
    # Given a DynamoDB that commits every credentials transaction and loses every answer
    key = str(uuid.uuid4())
    stack.aws.inject("dynamodb", "lost", operations=["TransactWriteItems"], callers=[ANY_FUNCTION])
    # When a create with a key runs out of attempts: its 503 is the one answer it cannot make true
    # (a budget that only the attempts end, not a slow machine before the first transaction)
    first = api.create(org_headers, CUSTOM_BODY, headers_extra={"Idempotency-Key": key}, timeout_seconds=10.0)
    assert_unavailable(first, "DynamoDB")
    stack.aws.heal()
    stored = api.get_by_provider(org_headers, "custom").json
    # Then the retry with the same key and body answers the 201 of what the first attempt stored
    retry = create_with_key(api, org_headers, CUSTOM_BODY, key)
    assert (retry.status, retry.json) == (201, stored)
    # And a create of the same provider under another key is the seed's 409
    other = create_with_key(api, org_headers, CUSTOM_BODY, str(uuid.uuid4()))
    assert other.status == 409


# The in-process suite's AWS_MAX_ATTEMPTS: botocore's tries of one call.
ATTEMPTS = 2


def test_a_records_put_whose_every_answer_was_lost_is_read_back(api, stack, org_headers):
    # Given a DynamoDB that stores the in-progress record and loses every answer of that call
    key = str(uuid.uuid4())
    stack.aws.inject("dynamodb", "lost", operations=["PutItem"], times=ATTEMPTS, callers=[ANY_FUNCTION])
    # When a create with a key runs: the record, read back, is its own
    reply = create_with_key(api, org_headers, SEED_BODIES["salesforce"], key)
    # Then it goes on and creates, and its retry is the same 201
    assert reply.status == 201, reply.raw
    assert create_with_key(api, org_headers, SEED_BODIES["salesforce"], key).json == reply.json


def test_a_failed_create_does_not_leave_its_key_in_progress(api, stack, org_id, org_headers):
    # Given a KMS that is down, and a DynamoDB that refuses the first call removing the record
    key = str(uuid.uuid4())
    api.list(org_headers)
    stack.aws.inject("kms", "throttle", callers=[ANY_FUNCTION])
    stack.aws.inject(
        "dynamodb", "throttle", operations=["DeleteItem"], times=ATTEMPTS, callers=[ANY_FUNCTION]
    )
    # When a create with a key fails: its record is removed all the same (made again in the budget)
    assert_unavailable(create_with_key(api, org_headers, SEED_BODIES["hubspot"], key), "KMS")
    assert stack.aws.faults_left("dynamodb") == 0
    stack.aws.heal()
    # Then its retry runs at once, instead of 409 "still in progress" until the record expires
    retry = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    assert retry.status == 201, retry.raw
