"""KMS, DynamoDB or SSM down, throttled or denied: 503 with Retry-After, nothing written,
no plaintext fallback, no stack trace in the body."""

import pytest

from tests.conftest import SEED_BODIES
from tests.integration.conftest import bearer, reset_process_state

KMS_FAULTS = [
    ("KMSInternalException", 500),
    ("ThrottlingException", 400),
    ("AccessDeniedException", 400),
    ("DisabledException", 400),
]
DYNAMODB_FAULTS = [
    ("ProvisionedThroughputExceededException", 400),
    ("InternalServerError", 500),
    ("AccessDeniedException", 400),
    ("ResourceNotFoundException", 400),
]


def assert_unavailable(reply, dependency):
    assert reply.status == 503
    assert reply.headers.get("Retry-After", "").isdigit()
    assert reply.json == {"detail": f"Service temporarily unavailable ({dependency}); retry later"}
    assert "Traceback" not in reply.raw


def rows_of(stack, org_id):
    return [
        item
        for item in stack.scan()
        if org_id in {item["org_id"]["S"], item.get("owner_org_id", {}).get("S")}
    ]


@pytest.mark.parametrize(("code", "status"), KMS_FAULTS)
def test_create_when_kms_fails_is_503_and_writes_nothing(api, stack, org_id, org_headers, code, status):
    stack.aws.fail("kms", code, status)
    assert_unavailable(api.create(org_headers, SEED_BODIES["salesforce"]), "KMS")
    assert rows_of(stack, org_id) == []


@pytest.mark.parametrize(("code", "status"), KMS_FAULTS)
def test_reads_when_kms_fails_are_503_never_plaintext(api, stack, org_headers, code, status):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reset_process_state()  # a cold instance: no cached data key
    stack.aws.fail("kms", code, status)
    assert_unavailable(api.get(org_headers, created["id"]), "KMS")
    assert_unavailable(api.get_by_provider(org_headers, "salesforce"), "KMS")
    assert_unavailable(api.list(org_headers), "KMS")


def test_update_when_kms_fails_changes_nothing(api, stack, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reset_process_state()
    stack.aws.fail("kms", "KMSInternalException", 500)
    assert_unavailable(api.update(org_headers, created["id"], {"access_token": "new"}), "KMS")
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).json == created


@pytest.mark.parametrize(("code", "status"), DYNAMODB_FAULTS)
def test_create_when_dynamodb_fails_is_503_and_writes_nothing(api, stack, org_id, org_headers, code, status):
    api.list(org_headers)  # warm the key cache so the failure hits the write itself
    stack.aws.fail("dynamodb", code, status, operations=["TransactWriteItems"])
    assert_unavailable(api.create(org_headers, SEED_BODIES["salesforce"]), "DynamoDB")
    stack.aws.heal()
    assert rows_of(stack, org_id) == []


@pytest.mark.parametrize("function", ["list", "get_by_provider", "get", "update", "delete"])
def test_every_route_is_503_when_dynamodb_fails(api, stack, org_headers, function):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    stack.aws.fail("dynamodb", "ProvisionedThroughputExceededException", 400)
    calls = {
        "list": lambda: api.list(org_headers),
        "get_by_provider": lambda: api.get_by_provider(org_headers, "salesforce"),
        "get": lambda: api.get(org_headers, created["id"]),
        "update": lambda: api.update(org_headers, created["id"], {"access_token": "new"}),
        "delete": lambda: api.delete(org_headers, created["id"]),
    }
    assert_unavailable(calls[function](), "DynamoDB")
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).json == created


def test_api_key_lookup_failure_is_503_not_401(api, stack):
    reset_process_state()
    stack.aws.fail("dynamodb", "InternalServerError", 500)
    assert_unavailable(api.list({"X-API-Key": "sk_live_" + "B" * 40}), "DynamoDB")


def test_jwt_secret_unavailable_is_503(api, stack, org_id):
    reset_process_state()  # no cached secret
    stack.aws.fail("ssm", "AccessDeniedException", 400)
    assert_unavailable(api.list(bearer(org_id)), "SSM")


def test_service_recovers_when_the_dependency_does(api, stack, org_headers):
    stack.aws.fail("kms", "ThrottlingException", 400)
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 503
    stack.aws.heal()
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 201


def test_an_unexpected_error_is_a_json_500_without_details(api, org_headers, monkeypatch):
    from integration_credentials import service

    def broken(*args, **kwargs):
        raise RuntimeError("bug with internal detail")

    monkeypatch.setattr(service.CredentialsService, "list", broken)
    reply = api.list(org_headers)
    assert (reply.status, reply.json) == (500, {"detail": "Internal server error"})
    assert "internal detail" not in reply.raw
