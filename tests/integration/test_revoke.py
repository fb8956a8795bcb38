"""DELETE revokes the grant at the CRM through the refresh queue: the delete enqueues the row's
ciphertext (never a plaintext token) before it deletes, and the worker revokes only once the row is
gone. The CRM call is injected here (`Revoker(revoke_function=...)`); the provider calls against
the fakes are tested with the providers."""

import base64
import functools
import json
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from integration_credentials.adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    TransientRefreshError,
)
from integration_credentials.logic import revocation
from integration_credentials.logic.credentials import credentials_service

from tests.integration.conftest import load_function
from tests.integration.test_refresh_scheduler import context, sqs_event
from tests.plaintext import leaks_in_bytes

INSTANCE_URL = "https://revoke-test.my.salesforce.com"


def secrets_of(body: dict[str, Any]) -> list[str]:
    metadata = body["metadata"]
    values = [body["access_token"], body["dsn"], metadata.get("client_secret")]
    values.append(metadata.get("refresh_token"))
    return [value for value in values if value]


def salesforce_body(*, refresh_token: bool = True, provider: str = "salesforce") -> dict[str, Any]:
    """Credentials whose every secret is unique to the test, so a scan finds only this test's."""
    tag = uuid.uuid4().hex
    metadata: dict[str, Any] = {
        "instance_url": INSTANCE_URL,
        "client_id": "revoke-client-id",
        "client_secret": f"CS-{tag}",
    }
    if refresh_token:
        metadata["refresh_token"] = f"RT-{tag}"
    return {
        "provider": provider,
        "dsn": f"{INSTANCE_URL}/?pw=DSN-{tag}",
        "access_token": f"AT-{tag}",
        "metadata": metadata,
    }


# ---- the queue and the injected CRM ----------------------------------------------------------------


@pytest.fixture
def refresh_queue(stack: Any) -> Iterator[Any]:
    """The stack's refresh queue (as the template wires it to the delete function), emptied."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws.endpoint)
    url = stack.resources.refs["RefreshQueue"]

    def drain() -> list[dict[str, Any]]:
        found = []
        while True:
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(message)
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    drain()
    yield drain
    drain()


def revocations_of(messages: list[dict[str, Any]], credentials_id: str) -> list[str]:
    """The bodies of the revocation messages about one credential."""
    bodies = [message["Body"] for message in messages]
    return [body for body in bodies if json.loads(body).get("id") == credentials_id]


@dataclass
class FakeRevoke:
    """The CRM's revocation endpoint as `providers.revoke` reaches it: records each call and
    raises the next of `failures` (then succeeds)."""

    failures: list[Exception] = field(default_factory=list)
    calls: list[dict[str, Any]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, provider: str, metadata: Any, token: str, **kwargs: Any) -> None:
        with self._lock:
            self.calls.append({"provider": provider, "token": token, **kwargs})
            if self.failures:
                raise self.failures.pop(0)


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> FakeRevoke:
    fake = FakeRevoke()
    # A process singleton as the real one (a cold start forgets it), built with the fake CRM.
    revoker = functools.cache(lambda: revocation.Revoker(credentials_service(), revoke_function=fake))
    monkeypatch.setattr(revocation, "revoker", revoker)
    return fake


@pytest.fixture
def audit_file(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    path = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG_FILE", str(path))

    def records() -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    records.path = path  # type: ignore[attr-defined]
    return records


def run_worker(*bodies: str) -> tuple[dict[str, Any], list[str]]:
    event, ids = sqs_event(*bodies)
    return load_function("refresh_worker").lambda_handler(event, context("refresh_worker")), ids


def create(api: Any, headers: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    created = api.create(headers, body)
    assert created.status == 201, created.raw
    result: dict[str, Any] = created.json
    return result


def stored_ciphertext(stack: Any, org_id: str, provider: str) -> bytes:
    item = stack.dynamodb.get_item(
        TableName=stack.resources.table_name,
        Key={"org_id": {"S": org_id}, "provider": {"S": provider}},
        ConsistentRead=True,
    )["Item"]
    return bytes(item["ciphertext"]["B"])


# ---- the delete ------------------------------------------------------------------------------------


def test_a_delete_answers_at_once_and_enqueues_only_the_ciphertext(
    api, stack, org_headers, org_id, refresh_queue, audit_file
):
    # Given stored Salesforce credentials with recognisable secrets
    body = salesforce_body()
    created = create(api, org_headers, body)
    ciphertext = stored_ciphertext(stack, org_id, "salesforce")
    # When they are deleted
    answer = api.delete(org_headers, created["id"])
    # Then the answer is the seed's, and the row is gone at once
    assert answer.status == 200, answer.raw
    assert answer.json == {"message": f"Integration credentials {created['id']} deleted successfully"}
    assert api.get(org_headers, created["id"]).status == 404
    # And one revocation is queued: the row's ids and its ciphertext, no secret in any encoding
    [message] = revocations_of(refresh_queue(), created["id"])
    document = json.loads(message)
    assert document["kind"] == "revoke"
    assert (document["org_id"], document["provider"], document["id"]) == (org_id, "salesforce", created["id"])
    assert base64.b64decode(document["ciphertext"]) == ciphertext
    assert leaks_in_bytes(message, secrets_of(body)) == []
    # And the delete's audit record says the revocation is queued
    [record] = [r for r in audit_file() if r["action"] == "delete"]
    assert (record["status"], record["revocation"]) == (200, "queued")


def test_revoke_false_keeps_the_grant_and_enqueues_nothing(api, org_headers, refresh_queue, audit_file):
    # Given stored credentials
    created = create(api, org_headers, salesforce_body())
    # When they are deleted with ?revoke=false
    answer = api.delete(org_headers, created["id"], query={"revoke": "false"})
    # Then they are deleted, and nothing is sent to the worker
    assert answer.status == 200, answer.raw
    assert api.get(org_headers, created["id"]).status == 404
    assert revocations_of(refresh_queue(), created["id"]) == []
    assert [r["revocation"] for r in audit_file() if r["action"] == "delete"] == ["not_requested"]


@pytest.mark.parametrize("provider", ["dynamics", "custom"])
def test_a_provider_without_revocation_enqueues_nothing(api, stack, refresh_queue, provider):
    # Given credentials of a provider whose grants cannot be revoked one by one
    org_id = f"org-{uuid.uuid4()}"
    from tests.integration.conftest import mint_key

    headers = {"X-API-Key": mint_key(stack, org_id)}
    created = create(api, headers, salesforce_body(provider=provider))
    # When they are deleted, then they are gone and nothing is queued
    assert api.delete(headers, created["id"]).status == 200
    assert revocations_of(refresh_queue(), created["id"]) == []


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.text(max_size=20).filter(lambda value: value not in ("true", "false")))
def test_any_other_revoke_value_is_a_400_that_deletes_nothing(api, org_headers, refresh_queue, value):
    # Given stored credentials (a 400 deletes nothing, so one row serves every example)
    existing = api.list(org_headers).json
    created = existing[0] if existing else create(api, org_headers, salesforce_body())
    # When a delete names revoke with any other value
    answer = api.delete(org_headers, created["id"], query={"revoke": value})
    # Then it is refused, naming the parameter, and the credentials stay
    assert answer.status == 400, (value, answer.raw)
    assert answer.json == {"detail": "Validation error: revoke must be true or false"}
    assert api.get(org_headers, created["id"]).status == 200
    assert revocations_of(refresh_queue(), created["id"]) == []


def test_sqs_down_is_a_503_and_deletes_nothing(api, stack, org_headers, refresh_queue):
    # Given stored credentials, and SQS failing
    created = create(api, org_headers, salesforce_body())
    stack.aws.fail("sqs", "ServiceUnavailable", 503, operations=["SendMessage"])
    # When they are deleted
    answer = api.delete(org_headers, created["id"])
    stack.aws.heal()
    # Then the caller is told to retry, and nothing was deleted
    assert answer.status == 503, answer.raw
    assert answer.headers.get("Retry-After")
    assert answer.json == {"detail": "Service temporarily unavailable (SQS); retry later"}
    assert api.get(org_headers, created["id"]).status == 200
    assert revocations_of(refresh_queue(), created["id"]) == []


def test_another_orgs_delete_is_a_403_that_enqueues_nothing(
    api, org_headers, other_org_headers, refresh_queue
):
    # Given one org's credentials
    created = create(api, org_headers, salesforce_body())
    # When another org deletes them by id
    answer = api.delete(other_org_headers, created["id"])
    # Then it is forbidden, nothing is queued and the credentials stay
    assert answer.status == 403
    assert revocations_of(refresh_queue(), created["id"]) == []
    assert api.get(org_headers, created["id"]).status == 200


# ---- the worker ------------------------------------------------------------------------------------


def test_the_worker_revokes_the_refresh_token_then_audits_and_publishes(
    api,
    org_headers,
    org_id,
    refresh_queue,
    crm,
    audit_file,
    event_queue,
    captured_logs,
):
    # Given deleted Salesforce credentials and their queued revocation
    body = salesforce_body()
    created = create(api, org_headers, body)
    assert api.delete(org_headers, created["id"]).status == 200
    [message] = revocations_of(refresh_queue(), created["id"])
    # When the worker takes the message
    result, _ids = run_worker(message)
    # Then the refresh token is revoked at the CRM, with the credential's OAuth client, once
    assert result == {"batchItemFailures": []}
    [call] = crm.calls
    assert (call["provider"], call["token"], call["token_kind"]) == (
        "salesforce",
        body["metadata"]["refresh_token"],
        "refresh_token",
    )
    assert call["client"] == OAuthClient("revoke-client-id", body["metadata"]["client_secret"])
    assert call["dsn"] == body["dsn"]
    # And the audit record and the event say so, without a secret
    [record] = [r for r in audit_file() if r["action"] == "revoke"]
    assert (record["status"], record["credentials_id"], record["org_id"]) == (200, created["id"], org_id)
    assert record["token_kind"] == "refresh_token"
    events = event_queue()
    assert [e["detail-type"] for e in events] == ["Integration Credentials Revoked"]
    assert events[0]["detail"]["id"] == created["id"]
    written = audit_file.path.read_text() + json.dumps(events) + captured_logs.getvalue()
    assert leaks_in_bytes(written, secrets_of(body)) == []


def test_without_a_refresh_token_the_worker_revokes_the_access_token(api, org_headers, refresh_queue, crm):
    # Given deleted credentials that hold only an access token
    body = salesforce_body(refresh_token=False)
    created = create(api, org_headers, body)
    assert api.delete(org_headers, created["id"]).status == 200
    [message] = revocations_of(refresh_queue(), created["id"])
    # When the worker takes the message, then the access token is revoked
    assert run_worker(message)[0] == {"batchItemFailures": []}
    assert [(c["token"], c["token_kind"]) for c in crm.calls] == [(body["access_token"], "access_token")]


def test_the_worker_does_not_revoke_a_credential_whose_delete_failed(
    api, stack, org_headers, refresh_queue, crm, audit_file
):
    # Given a delete that enqueued its revocation and then failed (DynamoDB down)
    created = create(api, org_headers, salesforce_body())
    stack.aws.fail("dynamodb", "InternalServerError", 500, operations=["TransactWriteItems"])
    answer = api.delete(org_headers, created["id"])
    assert answer.status == 503, answer.raw
    [message] = revocations_of(refresh_queue(), created["id"])
    # When the worker takes the message (the fault stays until then: under load the embedded AWS
    # may reach the timed-out delete only later, and must still refuse it)
    result, _ids = run_worker(message)
    stack.aws.heal()
    # Then it is dropped: the credentials still exist, so their grant is not revoked
    assert result == {"batchItemFailures": []}
    assert crm.calls == []
    assert [r for r in audit_file() if r["action"] == "revoke"] == []
    assert api.get(org_headers, created["id"]).status == 200


def test_a_transient_failure_retries_and_a_permanent_one_is_audited_and_dropped(
    api,
    org_headers,
    refresh_queue,
    crm,
    audit_file,
    event_queue,
):
    # Given a deleted credential's revocation, and a CRM that fails for now, then refuses
    created = create(api, org_headers, salesforce_body())
    assert api.delete(org_headers, created["id"]).status == 200
    [message] = revocations_of(refresh_queue(), created["id"])
    crm.failures += [
        TransientRefreshError("http_503", "the CRM is down"),
        PermanentRefreshError("invalid_client", "client rejected", reconnect_required=False),
    ]
    # When the worker takes it while the CRM is down
    result, ids = run_worker(message)
    # Then the message comes back for a retry, and nothing is audited or published yet
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}
    assert [r for r in audit_file() if r["action"] == "revoke"] == []
    assert event_queue() == []
    # When SQS delivers it again and the CRM refuses for good
    result, _ids = run_worker(message)
    # Then it is dropped, with a failure audited (the CRM's code) and published
    assert result == {"batchItemFailures": []}
    [record] = [r for r in audit_file() if r["action"] == "revoke"]
    assert (record["status"], record["outcome"], record["reason"]) == (502, "error", "invalid_client")
    events = event_queue()
    assert [e["detail-type"] for e in events] == ["Integration Credentials Revocation Failed"]
    assert events[0]["detail"]["error_code"] == "invalid_client"
    assert len(crm.calls) == 2


def test_a_kms_outage_returns_the_revocation_to_the_queue(api, stack, org_headers, refresh_queue, crm):
    # Given a deleted credential's revocation
    created = create(api, org_headers, salesforce_body())
    assert api.delete(org_headers, created["id"]).status == 200
    [message] = revocations_of(refresh_queue(), created["id"])
    # When a cold worker takes it while KMS fails
    from tests.integration.conftest import reset_process_state

    reset_process_state()
    stack.aws.fail("kms", "KMSInternalException", 500)
    result, ids = run_worker(message)
    stack.aws.heal()
    # Then it comes back, the CRM not called; and the retry revokes
    assert result == {"batchItemFailures": [{"itemIdentifier": ids[0]}]}
    assert crm.calls == []
    assert run_worker(message)[0] == {"batchItemFailures": []}
    assert len(crm.calls) == 1


def test_a_message_of_an_unknown_kind_is_dropped(crm):
    body = json.dumps({"kind": "explode", "org_id": "o", "provider": "salesforce", "id": "x"})
    assert run_worker(body)[0] == {"batchItemFailures": []}
    assert crm.calls == []


# ---- races -----------------------------------------------------------------------------------------


def test_concurrent_deletes_delete_once_and_every_revocation_names_the_deleted_grant(
    api, org_headers, refresh_queue, crm
):
    # Given stored credentials
    body = salesforce_body()
    created = create(api, org_headers, body)
    # When eight deletes race
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: api.delete(org_headers, created["id"]), range(8)))
    # Then one deleted them and the others found them gone (or changed under them)
    statuses = sorted(answer.status for answer in answers)
    assert statuses.count(200) == 1, statuses
    assert set(statuses) <= {200, 404, 412}, statuses
    # And whatever was queued revokes the one grant that was deleted
    messages = revocations_of(refresh_queue(), created["id"])
    assert messages
    assert run_worker(*messages)[0] == {"batchItemFailures": []}
    assert {c["token"] for c in crm.calls} == {body["metadata"]["refresh_token"]}


def race_a_delete_with_updates(api: Any, headers: dict[str, str]) -> tuple[dict[str, Any], int, list[str]]:
    """Stored credentials, updated with new refresh tokens while a delete of them runs:
    (the created body, the delete's status, every refresh token stored in order)."""
    body = salesforce_body()
    created = create(api, headers, body)
    stored = [body["metadata"]["refresh_token"]]
    start, deleted = threading.Barrier(2), threading.Event()

    def updates() -> None:
        start.wait()
        # A few, so that the delete's retries outlast them (a stream without end could keep every
        # attempt of the delete losing its version: 409, retry later).
        for _ in range(5):
            if deleted.is_set():
                return
            token = f"RT-new-{uuid.uuid4().hex}"
            if api.update(headers, created["id"], {"metadata": {"refresh_token": token}}).status != 200:
                return
            stored.append(token)

    def delete() -> int:
        start.wait()
        try:
            return int(api.delete(headers, created["id"]).status)
        finally:
            deleted.set()

    with ThreadPoolExecutor(2) as pool:
        updating, deleting = pool.submit(updates), pool.submit(delete)
        updating.result()
        return created, deleting.result(), stored


def test_a_delete_racing_updates_revokes_the_tokens_it_deleted(api, org_headers, refresh_queue, crm):
    for _round in range(4):
        # Given a delete racing updates that store new refresh tokens
        created, status, stored = race_a_delete_with_updates(api, org_headers)
        # Then the delete succeeded, and the worker revokes the refresh token the row held when
        # it was deleted (the last one an update stored)
        assert status == 200
        assert api.get(org_headers, created["id"]).status == 404
        messages = revocations_of(refresh_queue(), created["id"])
        assert run_worker(*messages)[0] == {"batchItemFailures": []}
        assert stored[-1] in {c["token"] for c in crm.calls}


def test_a_token_oauth_cannot_revoke_is_no_failure(
    api, org_headers, refresh_queue, crm, audit_file, event_queue
):
    # Given a deleted Pipedrive credential that holds an API token (no OAuth grant to revoke)
    created = create(api, org_headers, salesforce_body())
    assert api.delete(org_headers, created["id"]).status == 200
    [message] = revocations_of(refresh_queue(), created["id"])
    crm.failures.append(
        PermanentRefreshError("not_revocable", "regenerated in the CRM", reconnect_required=False)
    )
    # When the worker takes its message
    result, _ids = run_worker(message)
    # Then nothing failed: no failure audited, no Revocation Failed event for someone to chase
    assert result == {"batchItemFailures": []}
    assert [r for r in audit_file() if r["action"] == "revoke"] == []
    assert event_queue() == []
