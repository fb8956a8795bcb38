"""Idempotent create: Idempotency-Key replays, conflicts, and what the record holds."""

import json
import uuid
from concurrent.futures import ThreadPoolExecutor

from tests.conftest import SEED_BODIES
from tests.integration.conftest import reset_process_state
from tests.plaintext import leaks_in_bytes


def create_with_key(api, headers, body, key):
    return api.create(headers, body, headers_extra={"Idempotency-Key": key})


def idempotency_items(stack):
    client = stack.dynamodb
    name = stack.resources.refs["IdempotencyTable"]
    return client.scan(TableName=name)["Items"]


def test_a_retry_with_the_same_key_and_body_returns_the_original_201(api, org_headers):
    key = str(uuid.uuid4())
    first = create_with_key(api, org_headers, SEED_BODIES["salesforce"], key)
    retry = create_with_key(api, org_headers, SEED_BODIES["salesforce"], key)
    assert (first.status, retry.status) == (201, 201)
    assert retry.json == first.json
    assert retry.headers["ETag"] == first.headers["ETag"]
    assert len(api.list(org_headers).json) == 1


def test_a_retry_that_lands_on_a_cold_instance_returns_the_original_201(api, org_headers, stack):
    # Given a create with a key, answered by one instance
    key = str(uuid.uuid4())
    first = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    # When the retry lands on another, cold instance (no data key or plaintext cached)
    reset_process_state()
    stack.aws.reset_calls()
    retry = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    # Then it rebuilds the same 201 from the stored row, decrypting it with KMS
    assert (first.status, retry.status) == (201, 201)
    assert retry.json == first.json
    assert stack.aws.calls()[("kms", "Decrypt")] == 1
    assert len(api.list(org_headers).json) == 1


def test_the_same_key_with_another_body_is_409(api, org_headers):
    key = str(uuid.uuid4())
    assert create_with_key(api, org_headers, SEED_BODIES["salesforce"], key).status == 201
    other = create_with_key(api, org_headers, {**SEED_BODIES["salesforce"], "access_token": "different"}, key)
    assert other.status == 409
    assert other.json == {"detail": "Idempotency-Key was already used with a different request body"}
    # Waiting cannot change this answer: no Retry-After invites a client to retry it
    assert "Retry-After" not in other.headers
    assert (
        api.get_by_provider(org_headers, "salesforce").json["access_token"]
        == SEED_BODIES["salesforce"]["access_token"]
    )


def test_keys_are_scoped_to_the_org(api, org_headers, other_org_headers):
    key = "shared-key-123"
    mine = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
    theirs = create_with_key(api, other_org_headers, SEED_BODIES["hubspot"], key)
    assert (mine.status, theirs.status) == (201, 201)
    assert mine.json["id"] != theirs.json["id"]
    assert theirs.json["org_id"] != mine.json["org_id"]


def test_without_the_header_a_second_create_is_the_seeds_409(api, org_headers):
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 201
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 409


def test_a_new_key_for_an_existing_provider_is_the_seeds_409_and_retryable(api, org_headers):
    api.create(org_headers, SEED_BODIES["hubspot"])
    key = str(uuid.uuid4())
    for _ in range(2):
        reply = create_with_key(api, org_headers, SEED_BODIES["hubspot"], key)
        assert reply.status == 409
        assert reply.json == {"detail": "Integration credentials for provider 'hubspot' already exist"}


def test_concurrent_retries_create_once(api, org_headers, stack, org_id):
    from integration_credentials.core.bodies.create import CredentialsCreate
    from integration_credentials.logic.idempotency import create_idempotently

    body = CredentialsCreate.model_validate(SEED_BODIES["pipedrive"])
    key = str(uuid.uuid4())

    def attempt(_):
        try:
            return create_idempotently(org_id, body, key).body["id"]
        except Exception as error:  # in-progress conflicts are an allowed answer for a racing retry
            return type(error).__name__

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(attempt, range(8)))
    ids = {r for r in results if r not in {"IdempotencyConflictError"}}
    assert len(ids) == 1, results
    assert len(api.list(org_headers).json) == 1


def test_the_idempotency_record_holds_no_secret(api, org_headers, stack):
    body = {**SEED_BODIES["salesforce"], "access_token": "IDEMPOTENT-SECRET-" + uuid.uuid4().hex}
    key = str(uuid.uuid4())
    created = create_with_key(api, org_headers, body, key).json
    raw = json.dumps(idempotency_items(stack), default=str)
    assert created["id"] in raw
    assert (
        leaks_in_bytes(raw, (body["access_token"], body["dsn"], body["metadata"]["refresh_token"], key)) == []
    )


def test_bad_idempotency_keys_are_400(api, org_headers):
    for key in ["x" * 256, "has space", "tab\tkey"]:
        reply = create_with_key(
            api, org_headers, SEED_BODIES["zoho"] if "zoho" in SEED_BODIES else SEED_BODIES["hubspot"], key
        )
        assert reply.status == 400, key
        assert reply.json["detail"].startswith("Validation error: idempotency-key") or reply.json[
            "detail"
        ].startswith("Validation error: idempotency_key")
