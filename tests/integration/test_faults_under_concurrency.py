"""Under dependency faults at random (throttling, 5xx, dropped connections, slow and lost answers,
on DynamoDB and KMS), every answer is the truth about a completed write or a
503 with Retry-After and a `detail` after which the write is absent; a retried idempotent create
ends in its original 201; the org's count ends where its rows do.

In process the clients run one after another: threads invoking handlers side by side in one
process met each other's answers (a replayed create answered with another client's credentials),
which no Lambda instance can do (one invocation at a time per process). The same clients run
concurrently over HTTP against the local stack's function processes (tests/e2e/test_dependency_faults.py)."""

from tests.fault_clients import ROUNDS, THREADS, Client, inject_random_faults, org_count, run_one_by_one


def test_every_answer_under_random_faults_tells_the_truth(api, stack, org_id, org_headers):
    # Given one org, six clients each with its own provider, and DynamoDB and KMS failing at random
    table = stack.resources.table_name
    clients = [Client(api, stack.dynamodb, table, org_id, org_headers, index) for index in range(THREADS)]
    api.list(org_headers)  # the key is looked up before the faults: every client is let in
    inject_random_faults(stack.aws)
    # When they create (every other one with an Idempotency-Key), read, update and delete
    try:
        run_one_by_one(clients)
    finally:
        stack.aws.heal()
    # Then every answer was checked on the way (Client), and the org ends as it began
    assert api.list(org_headers).json == []
    assert org_count(stack.dynamodb, table, org_id) == 0
    assert sum(client.answers for client in clients) >= THREADS * ROUNDS * 9
    # ...among them 503s: the faults were met, not only retried away by botocore
    assert sum(client.unavailable for client in clients) > 0
