"""DynamoDB under contention on one item cancels writes with `TransactionConflict` (the embedded
AWS serialises requests, so it is injected here): every write retries with bounded, jittered
backoff, then answers 503 with nothing half-written. And an org holds at most
MAX_CREDENTIALS_PER_ORG credentials, counted in the same transactions, races included."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import fake_crms as fake
import pytest
from integration_credentials.adapters.storage.dynamodb import CONFLICT_ATTEMPTS, conflict_backoff

from tests.integration.conftest import mint_key
from tests.integration.test_refresh import salesforce_body

UNAVAILABLE = {"detail": "Service temporarily unavailable (DynamoDB); retry later"}


def body(provider: str = "custom") -> dict[str, object]:
    return {"provider": provider, "dsn": "https://crm.example.com", "access_token": "tok-1", "metadata": {}}


def org_items(stack, org_id: str) -> list[dict]:
    """The org's rows and its count item (queries: no scan of the shared table)."""
    items = []
    for partition in (org_id, f"ORGCOUNT#{org_id}"):
        items += stack.dynamodb.query(
            TableName=stack.resources.table_name,
            KeyConditionExpression="org_id = :p",
            ExpressionAttributeValues={":p": {"S": partition}},
            ConsistentRead=True,
        )["Items"]
    return items


def count_of(stack, org_id: str) -> int | None:
    for item in org_items(stack, org_id):
        if item["org_id"]["S"].startswith("ORGCOUNT#"):
            return int(item["credentials_count"]["N"])
    return None


def test_backoff_is_bounded_and_jittered():
    for attempt in range(1, 12):
        delays = {conflict_backoff(attempt) for _ in range(50)}
        assert all(0 < d <= 0.25 for d in delays)
        assert len(delays) > 1  # jittered: contending writers spread out


@pytest.mark.parametrize("conflicts", [1, CONFLICT_ATTEMPTS - 1])
def test_create_retries_transaction_conflicts(api, stack, org_id, org_headers, conflicts):
    stack.aws.conflict(["TransactWriteItems"], times=conflicts, items=3)
    reply = api.create(org_headers, body())
    assert reply.status == 201, reply.raw
    assert stack.aws.faults_left("dynamodb") == 0  # every injected conflict was met, and retried
    assert count_of(stack, org_id) == 1
    assert [i["provider"]["S"] for i in org_items(stack, org_id) if i["org_id"]["S"] == org_id] == ["custom"]


def test_create_that_keeps_conflicting_is_503_and_writes_nothing(api, stack, org_id, org_headers):
    api.list(org_headers)
    stack.aws.conflict(["TransactWriteItems"], times=CONFLICT_ATTEMPTS, items=3)
    reply = api.create(org_headers, body())
    assert (reply.status, reply.json) == (503, UNAVAILABLE)
    assert reply.headers.get("Retry-After", "").isdigit()
    stack.aws.heal()
    assert org_items(stack, org_id) == []


def test_update_and_delete_retry_conflicts_then_give_up_whole(api, stack, org_id, org_headers):
    created = api.create(org_headers, body()).json
    # An update (one UpdateItem of the row) meets two conflicts and lands
    stack.aws.conflict(["UpdateItem"], times=2)
    updated = api.update(org_headers, created["id"], {"access_token": "tok-2"})
    assert updated.status == 200 and updated.json["access_token"] == "tok-2"
    assert stack.aws.faults_left("dynamodb") == 0
    # One that keeps conflicting is a 503 and changes nothing
    stack.aws.conflict(["UpdateItem"], times=CONFLICT_ATTEMPTS)
    assert api.update(org_headers, created["id"], {"access_token": "tok-3"}).status == 503
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).json == updated.json
    # A delete that keeps conflicting is a 503, and the credentials are still there
    stack.aws.conflict(["TransactWriteItems"], times=CONFLICT_ATTEMPTS, items=3)
    assert api.delete(org_headers, created["id"]).status == 503
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).status == 200
    assert count_of(stack, org_id) == 1
    # One that meets a conflict or two deletes the row, its mirror and its count
    stack.aws.conflict(["TransactWriteItems"], times=2, items=3)
    assert api.delete(org_headers, created["id"]).status == 200
    assert api.get(org_headers, created["id"]).status == 404
    assert count_of(stack, org_id) == 0


def test_the_refresh_lease_and_write_retry_conflicts(api, stack, org_headers, salesforce_endpoint):
    chain = fake.RotatingChain()
    rotate = chain.behaviour()
    conflicts_while_asked: list[int] = []

    def provider(received):
        # Set while the provider is asked, so they meet the token write, not the lease
        for times in conflicts_while_asked:
            stack.aws.conflict(["UpdateItem"], times=times)
        return rotate(received)

    salesforce_endpoint(provider)
    created = api.create(org_headers, salesforce_body()).json
    # Taking the lease (a single-item UpdateItem) meets TransactionConflictException twice
    stack.aws.conflict(["UpdateItem"], times=2)
    reply = api.refresh(org_headers, created["id"])
    assert reply.status == 200, reply.raw
    assert stack.aws.faults_left("dynamodb") == 0
    # The write of the new tokens (one UpdateItem of the row) meets two conflicts
    conflicts_while_asked.append(2)
    assert api.refresh(org_headers, created["id"]).status == 200
    assert stack.aws.faults_left("dynamodb") == 0
    stored = api.get(org_headers, created["id"]).json
    assert stored["metadata"]["refresh_token"] == chain.current
    assert chain.replayed == [] and not chain.revoked


def test_a_lease_that_keeps_conflicting_is_503_and_never_calls_the_provider(
    api, stack, org_headers, salesforce_endpoint
):
    chain = fake.RotatingChain()
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body()).json
    stack.aws.conflict(["UpdateItem"], times=CONFLICT_ATTEMPTS)
    reply = api.refresh(org_headers, created["id"])
    assert (reply.status, reply.json) == (503, UNAVAILABLE)
    assert chain.used == []
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).json == created


# ---- MAX_CREDENTIALS_PER_ORG ----------------------------------------------------------------


def test_an_org_holds_at_most_the_configured_number_of_credentials(api, stack, org_id, org_headers, tuned):
    tuned(MAX_CREDENTIALS_PER_ORG="3")
    for provider in ("p1", "p2", "p3"):
        assert api.create(org_headers, body(provider)).status == 201
    refused = api.create(org_headers, body("p4"))
    assert (refused.status, refused.json) == (
        409,
        {
            "detail": "The organization already holds the maximum of 3 integration credentials; "
            "delete some before storing more"
        },
    )
    assert [c["provider"] for c in api.list(org_headers).json] == ["p1", "p2", "p3"]
    # Another org is not affected
    other_org = f"org-{uuid.uuid4()}"
    assert api.create({"X-API-Key": mint_key(stack, other_org)}, body("p4")).status == 201
    # Deleting one makes room again
    first = api.get_by_provider(org_headers, "p1").json
    assert api.delete(org_headers, first["id"]).status == 200
    assert api.create(org_headers, body("p4")).status == 201
    assert count_of(stack, org_id) == 3


def test_concurrent_creates_never_exceed_the_limit(api, stack, org_id, org_headers, tuned):
    tuned(MAX_CREDENTIALS_PER_ORG="3")
    for provider in ("p1", "p2"):
        assert api.create(org_headers, body(provider)).status == 201
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda n: api.create(org_headers, body(f"q{n}")).status, range(8)))
    assert sorted(statuses) == [201] + [409] * 7
    assert len(api.list(org_headers).json) == 3
    assert count_of(stack, org_id) == 3
