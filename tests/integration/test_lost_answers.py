"""Writes whose answer was lost, retried by botocore or resent by the service, end in the truth
about what they did: a create is not refused by its own row, a delete is not a 404 for its own
delete, a lease taken is the taker's, a consumed OAuth state is the consumer's. The embedded AWS
honours `ClientRequestToken` as DynamoDB documents it."""

import uuid

import boto3
import botocore.exceptions
import fake_crms as fake
import pytest
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from local_stack.aws_faults import ANY_FUNCTION

from tests.conftest import SEED_BODIES
from tests.integration.conftest import mint_key, reset_process_state
from tests.integration.test_connect import connect_through, crms, landed  # noqa: F401 - crms is a fixture
from tests.integration.test_refresh import salesforce_body

# The in-process suite's AWS_MAX_ATTEMPTS: botocore's tries of one call.
ATTEMPTS = 2


@pytest.fixture(autouse=True)
def _fresh_instance():
    # botocore's retry quota is per client: the faults of earlier tests drain it, and botocore
    # then stops retrying. Each test here starts on an instance of its own.
    reset_process_state()


def count_of(stack, org_id):
    item = stack.dynamodb.get_item(
        TableName=stack.resources.table_name,
        Key={"org_id": {"S": f"ORGCOUNT#{org_id}"}, "provider": {"S": "COUNT"}},
        ConsistentRead=True,
    ).get("Item")
    return int(item["credentials_count"]["N"]) if item else 0


# ---- the embedded AWS's client request tokens --------------------------------------------------


@pytest.fixture
def counter(stack):
    key = {"org_id": {"S": f"test-counter-{uuid.uuid4()}"}, "provider": {"S": "COUNT"}}

    def add(token, amount=1, condition=None):
        update = {
            "TableName": stack.resources.table_name,
            "Key": key,
            "UpdateExpression": "ADD n :amount",
            "ExpressionAttributeValues": {":amount": {"N": str(amount)}},
        }
        if condition:
            update["ConditionExpression"] = condition
        stack.dynamodb.transact_write_items(TransactItems=[{"Update": update}], ClientRequestToken=token)

    def value():
        item = stack.dynamodb.get_item(TableName=stack.resources.table_name, Key=key, ConsistentRead=True)
        return int(item.get("Item", {}).get("n", {}).get("N", "0"))

    return add, value


def test_the_same_token_and_request_is_applied_once(counter):
    add, value = counter
    token = str(uuid.uuid4())
    add(token)
    add(token)
    assert value() == 1
    add(str(uuid.uuid4()))
    assert value() == 2


def test_the_same_token_with_another_request_is_a_mismatch(counter):
    add, value = counter
    token = str(uuid.uuid4())
    add(token)
    with pytest.raises(botocore.exceptions.ClientError) as raised:
        add(token, amount=5)
    assert raised.value.response["Error"]["Code"] == "IdempotentParameterMismatchException"
    assert value() == 1


def test_a_token_whose_first_request_failed_is_applied_when_it_comes_again(counter):
    add, value = counter
    token = str(uuid.uuid4())
    add(str(uuid.uuid4()))
    with pytest.raises(botocore.exceptions.ClientError):
        add(token, condition="n > :amount")  # 1 > 1: cancelled
    add(str(uuid.uuid4()))
    add(token, condition="n > :amount")  # 2 > 1: applied now
    assert value() == 3


# ---- the routes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("lost", [1, ATTEMPTS], ids=["botocore-retry", "every-attempt-then-resend"])
def test_a_create_whose_answer_was_lost_is_201_not_its_own_409(api, stack, org_id, org_headers, lost):
    # Given a DynamoDB that commits the create and loses the answer (to every attempt of the
    # first call, in the second case: the service then resends it under the same token)
    api.list(org_headers)
    stack.aws.inject(
        "dynamodb", "lost", operations=["TransactWriteItems"], times=lost, callers=[ANY_FUNCTION]
    )
    # When the create runs
    reply = api.create(org_headers, SEED_BODIES["salesforce"])
    # Then it answers what it did: 201, one row, counted once
    assert reply.status == 201, reply.raw
    assert api.get_by_provider(org_headers, "salesforce").json == reply.json
    assert count_of(stack, org_id) == 1
    assert stack.aws.faults_left("dynamodb") == 0


@pytest.mark.parametrize("lost", [1, ATTEMPTS], ids=["botocore-retry", "every-attempt-then-resend"])
def test_an_update_whose_answer_was_lost_is_applied_once(api, stack, org_headers, lost):
    # The update is one conditional UpdateItem: its retry (or resend) meets its own write, and
    # knows it by what it wrote
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    stack.aws.inject("dynamodb", "lost", operations=["UpdateItem"], times=lost, callers=[ANY_FUNCTION])
    reply = api.update(org_headers, created["id"], {"access_token": "rotated-after-lost-answer"})
    assert (reply.status, reply.headers["ETag"]) == (200, '"2"'), reply.raw
    assert api.get(org_headers, created["id"]).json == reply.json
    assert stack.aws.faults_left("dynamodb") == 0


@pytest.mark.parametrize("lost", [1, ATTEMPTS], ids=["botocore-retry", "every-attempt-then-resend"])
def test_a_refresh_whose_token_write_answer_was_lost_stores_the_tokens_once(
    api, stack, org_headers, salesforce_endpoint, lost
):
    # Given a DynamoDB that commits the write of the new tokens and loses its answer (armed
    # while the provider is asked: the lease is taken by then)
    chain = fake.RotatingChain()
    rotate = chain.behaviour()

    def provider(received):
        stack.aws.inject("dynamodb", "lost", operations=["UpdateItem"], times=lost, callers=[ANY_FUNCTION])
        return rotate(received)

    salesforce_endpoint(provider)
    created = api.create(org_headers, salesforce_body()).json
    # When a refresh is asked for
    reply = api.refresh(org_headers, created["id"])
    # Then it answers the tokens it stored, once, and the lease is given back with them
    assert (reply.status, reply.headers["ETag"]) == (200, '"2"'), reply.raw
    assert stack.aws.faults_left("dynamodb") == 0
    assert api.get(org_headers, created["id"]).json == reply.json
    assert reply.json["metadata"]["refresh_token"] == chain.current
    row = stack.dynamodb.get_item(
        TableName=stack.resources.table_name,
        Key={"org_id": {"S": created["org_id"]}, "provider": {"S": "salesforce"}},
        ConsistentRead=True,
    )["Item"]
    assert "lease_owner" not in row


@pytest.mark.parametrize("lost", [1, ATTEMPTS], ids=["botocore-retry", "every-attempt-then-resend"])
def test_a_delete_whose_answer_was_lost_is_done_not_its_own_404(api, stack, org_id, org_headers, lost):
    created = api.create(org_headers, SEED_BODIES["pipedrive"]).json
    stack.aws.inject(
        "dynamodb", "lost", operations=["TransactWriteItems"], times=lost, callers=[ANY_FUNCTION]
    )
    reply = api.delete(org_headers, created["id"])
    assert reply.status == 200, reply.raw
    assert api.get(org_headers, created["id"]).status == 404
    assert count_of(stack, org_id) == 0


def test_a_write_whose_answers_stay_lost_is_a_503_that_says_so_in_the_log(
    api, stack, org_headers, captured_logs
):
    # Every answer lost until the budget ends: the one case where the outcome stays unknown
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    stack.aws.inject("dynamodb", "lost", operations=["TransactWriteItems"], callers=[ANY_FUNCTION])
    reply = api.delete(org_headers, created["id"], timeout_seconds=3.0)
    assert reply.status == 503
    assert reply.json == {"detail": "Service temporarily unavailable (DynamoDB); retry later"}
    assert "write outcome unknown" in captured_logs.getvalue()
    # The retry tells the truth: the first delete was made
    stack.aws.heal()
    assert api.delete(org_headers, created["id"]).status == 404


def test_a_throttled_write_is_not_resent_and_is_absent(api, stack, org_id, org_headers):
    # Throttling says the write was not made: a 503 at once, nothing stored
    api.list(org_headers)
    stack.aws.inject("dynamodb", "throttle", operations=["TransactWriteItems"], callers=[ANY_FUNCTION])
    stack.aws.reset_calls()
    reply = api.create(org_headers, SEED_BODIES["salesforce"])
    assert reply.status == 503
    stack.aws.heal()
    assert api.get_by_provider(org_headers, "salesforce").status == 404
    assert count_of(stack, org_id) == 0


def test_a_lease_whose_answer_was_lost_is_the_takers(api, stack, org_headers, salesforce_endpoint):
    # Given refreshable credentials, and a DynamoDB that takes the lease and loses the answer once
    salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    stack.aws.inject("dynamodb", "lost", operations=["UpdateItem"], times=1, callers=[ANY_FUNCTION])
    # When a refresh is asked for: botocore's retry meets the lease it took
    reply = api.refresh(org_headers, created["id"])
    # Then the refresh goes on under it, instead of waiting for itself
    assert reply.status == 200, reply.raw
    assert reply.json["access_token"] == fake.NEW_ACCESS_TOKEN


def test_a_consumed_state_whose_answer_was_lost_is_the_consumers(api, stack, crms, org_headers):  # noqa: F811
    # Given a DynamoDB that deletes the callback's state and loses the answer once (its first write)
    stack.aws.inject(
        "dynamodb",
        "lost",
        operations=["TransactWriteItems", "DeleteItem"],
        times=1,
        callers=["OAuthCallbackFunction"],
    )
    # When the user comes back from consent: botocore's retry is answered as the delete was
    result = landed(connect_through(api, crms, org_headers, "hubspot"))
    # Then the connection is made, not refused as an already used state
    assert result["status"] == "connected"
    assert stack.aws.faults_left("dynamodb") == 0


def test_api_key_writes_whose_answers_were_lost_are_the_writers(stack, org_id):
    # The admin CLI's put and revocation (an operator's credentials, not a function's)
    repository = ApiKeyRepository(
        stack.resources.api_keys_table_name, boto3.client("dynamodb", endpoint_url=stack.aws.endpoint)
    )
    stack.aws.inject("dynamodb", "lost", operations=["PutItem"], times=1)
    key = mint_key(stack, org_id)
    assert stack.aws.faults_left("dynamodb") == 0
    ((record,),) = [[r for r in repository.scan() if r.get("org_id") == org_id]]
    stack.aws.inject("dynamodb", "lost", operations=["UpdateItem"], times=1)
    assert repository.revoke(record["key_hash"], "2026-12-03T00:00:00.000000Z") is True
    assert key.startswith("sk_live_")
