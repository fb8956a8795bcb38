"""Every AWS call of a request ends within the invocation's time budget (the context's remaining
time less the margin), so a slow KMS or DynamoDB is answered with the documented 503 before the
function's Timeout, and nothing is written."""

import time

import pytest
from integration_credentials.adapters.budget import MARGIN_SECONDS
from local_stack.aws_faults import ANY_FUNCTION

from tests.conftest import SEED_BODIES
from tests.integration.conftest import reset_process_state
from tests.integration.test_failures import assert_unavailable, rows_of

# A short Timeout keeps the test quick: the budget is what is left of it, whatever it is.
TIMEOUT_SECONDS = 3.0
# Far longer than the Timeout: without the budget the answer would come after it.
SLOW_SECONDS = 30.0


def timed(call):
    started = time.monotonic()
    reply = call()
    return reply, time.monotonic() - started


def test_a_slow_kms_is_a_503_before_the_timeout_and_nothing_is_written(api, stack, org_id, org_headers):
    # Given a KMS whose data keys come after 30 s
    api.list(org_headers)  # the API key is cached: the budget is spent on KMS alone
    stack.aws.inject(
        "kms", "slow", operations=["GenerateDataKey"], seconds=SLOW_SECONDS, callers=[ANY_FUNCTION]
    )
    # When a create runs in an invocation of 3 s
    reply, elapsed = timed(
        lambda: api.create(org_headers, SEED_BODIES["salesforce"], timeout_seconds=TIMEOUT_SECONDS)
    )
    # Then it is our 503, answered with the margin still ahead, and nothing is stored
    assert_unavailable(reply, "KMS")
    assert elapsed < TIMEOUT_SECONDS - MARGIN_SECONDS / 2, elapsed
    stack.aws.heal()
    assert rows_of(stack, org_id) == []


@pytest.mark.parametrize("route", ["get", "get_by_provider", "list"])
def test_a_slow_dynamodb_read_is_a_503_before_the_timeout(api, stack, org_headers, route):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    operation = "Query" if route == "list" else "GetItem"
    stack.aws.inject("dynamodb", "slow", operations=[operation], seconds=SLOW_SECONDS, callers=[ANY_FUNCTION])
    calls = {
        "get": lambda: api.get(org_headers, created["id"], timeout_seconds=TIMEOUT_SECONDS),
        "get_by_provider": lambda: api.get_by_provider(
            org_headers, "hubspot", timeout_seconds=TIMEOUT_SECONDS
        ),
        "list": lambda: api.list(org_headers, timeout_seconds=TIMEOUT_SECONDS),
    }
    reply, elapsed = timed(calls[route])
    assert_unavailable(reply, "DynamoDB")
    assert elapsed < TIMEOUT_SECONDS - MARGIN_SECONDS / 2, elapsed


def test_a_slow_first_answer_is_retried_within_the_budget(api, stack, org_headers):
    # Given a DynamoDB whose first answer to a read is slow, then healthy again
    created = api.create(org_headers, SEED_BODIES["pipedrive"]).json
    # A fresh instance: botocore's retry quota is not drained by the faults of earlier tests
    reset_process_state()
    api.list(org_headers)
    stack.aws.inject(
        "dynamodb", "slow", operations=["GetItem"], seconds=SLOW_SECONDS, times=1, callers=[ANY_FUNCTION]
    )
    # When the budget leaves room for another attempt after the first one timed out
    reply, elapsed = timed(lambda: api.get(org_headers, created["id"], timeout_seconds=8.0))
    # Then the retry's answer is the credentials, within the invocation
    assert (reply.status, reply.json) == (200, created)
    assert elapsed < 8.0 - MARGIN_SECONDS / 2


def test_a_spent_budget_starts_no_aws_call(api, stack, org_headers):
    # An invocation with no more time than the margin: nothing is asked of AWS, the answer is a 503.
    reset_process_state()  # nothing cached: the API key lookup would be the first call
    stack.aws.reset_calls()
    reply = api.list(org_headers, timeout_seconds=MARGIN_SECONDS)
    assert_unavailable(reply, "DynamoDB")
    assert sum(stack.aws.calls().values()) == 0
