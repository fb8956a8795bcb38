"""KMS, DynamoDB or SSM failing, in two classes, with nothing written, no plaintext fallback and
no stack trace in the body: down or throttled is 503 with Retry-After; denied, missing, invalid or
disabled (a deployment problem) is 500 "misconfigured", logged at ERROR with its code and counted."""

import io
import json

import pytest
from integration_credentials.adapters.observability import logger as service_logger

from tests.conftest import SEED_BODIES
from tests.integration.conftest import bearer, reset_process_state

MISCONFIGURED = {
    "detail": (
        "The service is misconfigured and cannot complete this request; retrying will not help "
        "until its operator fixes the deployment"
    )
}
# (code, HTTP status, retry-later?)
KMS_FAULTS = [
    ("KMSInternalException", 500, True),
    ("ThrottlingException", 400, True),
    ("KeyUnavailableException", 500, True),
    ("AccessDeniedException", 400, False),
    ("DisabledException", 400, False),
    ("NotFoundException", 400, False),
    ("KMSInvalidStateException", 400, False),
]
DYNAMODB_FAULTS = [
    ("ProvisionedThroughputExceededException", 400, True),
    ("ThrottlingException", 400, True),
    ("InternalServerError", 500, True),
    ("AccessDeniedException", 400, False),
    ("ResourceNotFoundException", 400, False),
    ("ValidationException", 400, False),
]


def assert_unavailable(reply, dependency):
    assert reply.status == 503
    assert reply.headers.get("Retry-After", "").isdigit()
    assert reply.json == {"detail": f"Service temporarily unavailable ({dependency}); retry later"}
    assert "Traceback" not in reply.raw


def assert_misconfigured(reply):
    assert reply.status == 500
    assert "Retry-After" not in reply.headers
    assert reply.json == MISCONFIGURED
    assert "Traceback" not in reply.raw


def assert_failed(reply, dependency, transient):
    if transient:
        assert_unavailable(reply, dependency)
    else:
        assert_misconfigured(reply)


def rows_of(stack, org_id):
    return [
        item
        for item in stack.scan()
        if org_id in {item["org_id"]["S"], item.get("owner_org_id", {}).get("S")}
    ]


@pytest.mark.parametrize(("code", "status", "transient"), KMS_FAULTS)
def test_create_when_kms_fails_writes_nothing(api, stack, org_id, org_headers, code, status, transient):
    stack.aws.fail("kms", code, status)
    assert_failed(api.create(org_headers, SEED_BODIES["salesforce"]), "KMS", transient)
    assert rows_of(stack, org_id) == []


@pytest.mark.parametrize(("code", "status", "transient"), KMS_FAULTS)
def test_reads_when_kms_fails_never_give_plaintext(api, stack, org_headers, code, status, transient):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reset_process_state()  # a cold instance: no cached data key
    stack.aws.fail("kms", code, status)
    assert_failed(api.get(org_headers, created["id"]), "KMS", transient)
    assert_failed(api.get_by_provider(org_headers, "salesforce"), "KMS", transient)
    assert_failed(api.list(org_headers), "KMS", transient)


def test_update_when_kms_fails_changes_nothing(api, stack, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reset_process_state()
    stack.aws.fail("kms", "KMSInternalException", 500)
    assert_unavailable(api.update(org_headers, created["id"], {"access_token": "new"}), "KMS")
    stack.aws.heal()
    assert api.get(org_headers, created["id"]).json == created


@pytest.mark.parametrize(("code", "status", "transient"), DYNAMODB_FAULTS)
def test_create_when_dynamodb_fails_writes_nothing(api, stack, org_id, org_headers, code, status, transient):
    api.list(org_headers)  # warm the key cache so the failure hits the write itself
    stack.aws.fail("dynamodb", code, status, operations=["TransactWriteItems"])
    assert_failed(api.create(org_headers, SEED_BODIES["salesforce"]), "DynamoDB", transient)
    stack.aws.heal()
    assert rows_of(stack, org_id) == []


def test_a_misconfiguration_is_logged_at_error_with_its_code_and_counted(api, stack, org_headers, capsys):
    api.list(org_headers)
    stack.aws.fail("dynamodb", "AccessDeniedException", 400, operations=["TransactWriteItems"])
    buffer = io.StringIO()
    handler = service_logger.registered_handler
    previous = handler.setStream(buffer)
    try:
        # Metrics are flushed to stdout, the service log to its handler's stream.
        assert_misconfigured(api.create(org_headers, SEED_BODIES["salesforce"]))
    finally:
        handler.setStream(previous)
    output = buffer.getvalue() + capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    errors = [line for line in lines if line.get("message") == "dependency misconfigured"]
    assert [(e["level"], e["dependency"], e["code"]) for e in errors] == [
        ("ERROR", "DynamoDB", "AccessDeniedException")
    ]
    assert any("DependencyMisconfigured" in line for line in lines)


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
    stack.aws.fail("ssm", "ThrottlingException", 400)
    assert_unavailable(api.list(bearer(org_id)), "SSM")


@pytest.mark.parametrize("code", ["AccessDeniedException", "ParameterNotFound"])
def test_jwt_secret_denied_or_missing_is_misconfigured(api, stack, org_id, code):
    reset_process_state()
    stack.aws.fail("ssm", code, 400)
    assert_misconfigured(api.list(bearer(org_id)))


def test_a_connection_failure_is_503(api, stack, org_headers, monkeypatch):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reset_process_state()
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:9")  # nothing listens there
    assert_unavailable(api.get(org_headers, created["id"]), "DynamoDB")
    monkeypatch.undo()
    reset_process_state()


def test_service_recovers_when_the_dependency_does(api, stack, org_headers):
    stack.aws.fail("kms", "ThrottlingException", 400)
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 503
    stack.aws.heal()
    assert api.create(org_headers, SEED_BODIES["hubspot"]).status == 201


def test_an_unexpected_error_is_a_json_500_without_details(api, org_headers, monkeypatch):
    from integration_credentials.logic import credentials as service

    def broken(*args, **kwargs):
        raise RuntimeError("bug with internal detail")

    monkeypatch.setattr(service.CredentialsService, "list", broken)
    reply = api.list(org_headers)
    assert (reply.status, reply.json) == (500, {"detail": "Internal server error"})
    assert "internal detail" not in reply.raw
