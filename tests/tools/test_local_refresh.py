"""The local stack's scheduled refresh as template.yaml declares it: schedule, queue trigger, events
shaped like the ones in events/, and Lambda's rules for deleting a batch's messages."""

import json

import pytest
from local_stack.devserver import function_env
from local_stack.events import scheduled_event, sqs_event
from local_stack.provisioning import LocalResources, local_oauth_client
from local_stack.sources import processed_message_ids, schedule_seconds
from local_stack.template import (
    ROOT,
    function_directories,
    function_environment,
    load_template,
    queue_triggers,
    resolve,
    schedule_triggers,
)

IDS = ["m1", "m2", "m3"]


def test_the_template_schedules_the_scheduler_which_fans_out_to_the_scanners_and_then_the_worker():
    (schedule,) = schedule_triggers()
    assert schedule.function.name == "RefreshSchedulerFunction"
    assert schedule.function.code_uri == ROOT / "functions" / "refresh_scheduler"
    assert schedule.schedule == {"Ref": "RefreshSchedule"}
    scanner, worker = queue_triggers()
    # Each range of shards is an invocation of its own, and only a failed one comes back
    assert scanner.function.name == "RefreshShardScannerFunction"
    assert scanner.function.code_uri == ROOT / "functions" / "refresh_shard_scanner"
    assert (scanner.queue, scanner.batch_size, scanner.report_batch_item_failures) == (
        "RefreshShardQueue",
        1,
        True,
    )
    assert worker.function.name == "RefreshWorkerFunction"
    assert (worker.queue, worker.batch_size, worker.report_batch_item_failures) == ("RefreshQueue", 10, True)
    resources = load_template()["Resources"]
    for queue, function in (
        ("RefreshQueue", "RefreshWorkerFunction"),
        ("RefreshShardQueue", "RefreshShardScannerFunction"),
    ):
        assert (
            resources[queue]["Properties"]["VisibilityTimeout"]
            == 6 * (resources[function]["Properties"]["Timeout"])
        )
    # The shard queue is FIFO (a run's ranges deduplicated, one visit of a range at a time), and so
    # is its dead-letter queue (SQS requires it)
    shard_queue = resources["RefreshShardQueue"]["Properties"]
    assert shard_queue["FifoQueue"] is True
    assert shard_queue["RedrivePolicy"]["deadLetterTargetArn"] == {
        "Fn::GetAtt": ["RefreshShardDeadLetterQueue", "Arn"]
    }
    assert resources["RefreshShardDeadLetterQueue"]["Properties"]["FifoQueue"] is True
    # Only HttpApi functions are routes: the scheduler, the scanner and the worker are not.
    assert "refresh_credentials" in function_directories()
    assert not {"refresh_scheduler", "refresh_shard_scanner", "refresh_worker"} & set(function_directories())


def test_a_functions_own_environment_is_added_to_the_globals():
    parameters = {name: f"<{name}>" for name in load_template()["Parameters"]}
    refs = {
        **parameters,
        "CredentialsTable": "tbl",
        "ApiKeysTable": "keys",
        "IdempotencyTable": "idem",
        "RefreshQueue": "http://q",
        "RefreshShardQueue": "http://shards.fifo",
    }
    attributes = {("CredentialsKey", "Arn"): "arn:key"}
    scheduler = function_environment(refs, attributes, "RefreshSchedulerFunction")
    assert scheduler["REFRESH_SHARD_QUEUE_URL"] == "http://shards.fifo"
    assert scheduler["REFRESH_SHARD_SCANNERS"] == "<RefreshShardScanners>"
    assert scheduler["OAUTH_CLIENT_PARAMETER_PREFIX"] == "<OAuthClientParameterPrefix>"
    assert scheduler["EVENT_BUS_NAME"] == "<EventBusName>"
    scanner = function_environment(refs, attributes, "RefreshShardScannerFunction")
    assert scanner["REFRESH_QUEUE_URL"] == "http://q"
    assert "REFRESH_QUEUE_URL" not in function_environment(refs, attributes)
    assert "REFRESH_QUEUE_URL" not in function_environment(refs, attributes, "RefreshWorkerFunction")


def test_the_developers_settings_reach_the_functions_but_not_over_their_own_resources(monkeypatch):
    # Given a stack's resources and a developer who exported settings, overrides and a stray queue URL
    parameters = {name: f"<{name}>" for name in load_template()["Parameters"]}
    refs = {
        **parameters,
        "CredentialsTable": "tbl",
        "ApiKeysTable": "keys",
        "IdempotencyTable": "idem",
        "RefreshQueue": "http://q",
        "RefreshShardQueue": "http://shards.fifo",
    }
    resources = LocalResources("tbl", "arn:key", "/p", refs, {("CredentialsKey", "Arn"): "arn:key"})
    # (nothing else exported: the integration tests' stack exports the Globals in this process)
    for name in load_template()["Globals"]["Function"]["Environment"]["Variables"]:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("API_KEY_CACHE_SECONDS", "1")
    monkeypatch.setenv("OAUTH_TOKEN_URL_SALESFORCE", "http://127.0.0.1:9999/services/oauth2/token")
    monkeypatch.setenv("REFRESH_MARGIN_SECONDS", "120")
    monkeypatch.setenv("REFRESH_QUEUE_URL", "http://elsewhere")
    monkeypatch.setenv("REFRESH_SHARD_QUEUE_URL", "http://elsewhere.fifo")
    monkeypatch.setenv("REFRESH_SHARD_SCANNERS", "64")
    monkeypatch.setenv("UNRELATED_SETTING", "x")

    # When the functions' environments are built
    route = function_env(resources, "GetCredentialsFunction", 3000)
    scheduler = function_env(resources, "RefreshSchedulerFunction", 3000)
    scanner = function_env(resources, "RefreshShardScannerFunction", 3000)

    # Then template settings the developer exported win, and token endpoint/refresh settings pass
    for env in (route, scheduler):
        assert env["API_KEY_CACHE_SECONDS"] == "1"
        assert env["OAUTH_TOKEN_URL_SALESFORCE"] == "http://127.0.0.1:9999/services/oauth2/token"
        assert env["REFRESH_MARGIN_SECONDS"] == "120"
        assert env["TABLE_NAME"] == "tbl"
        assert "UNRELATED_SETTING" not in env
    # And so does a setting the template sets from a parameter (the number of shard scanners)
    assert scheduler["REFRESH_SHARD_SCANNERS"] == "64"
    # But the functions' own queues are the stack's
    assert scheduler["REFRESH_SHARD_QUEUE_URL"] == "http://shards.fifo"
    assert scanner["REFRESH_QUEUE_URL"] == "http://q"


def test_sub_resolves_resource_attributes():
    value = {"Fn::Sub": "${CredentialsTable.Arn}/index/refresh-due"}
    assert resolve(value, {}, {("CredentialsTable", "Arn"): "arn:t"}) == "arn:t/index/refresh-due"


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200), ("rate(1 day)", 86400)],
)
def test_rate_expressions_give_the_local_period(expression, seconds):
    assert schedule_seconds(expression) == seconds


def test_a_cron_expression_falls_back_to_the_default_period():
    assert schedule_seconds("cron(0/5 * * * ? *)", default=60) == 60


def test_the_local_events_have_the_shape_of_the_ones_in_events():
    sample = json.loads((ROOT / "events" / "refresh_scheduler.json").read_text())
    event = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/local", "us-east-1")
    assert set(event) == set(sample)
    assert (event["detail-type"], event["source"], event["detail"]) == ("Scheduled Event", "aws.events", {})

    sample = json.loads((ROOT / "events" / "refresh_worker.json").read_text())
    message = {
        "MessageId": "m1",
        "ReceiptHandle": "rh",
        "Body": sample["Records"][0]["body"],
        "MD5OfBody": sample["Records"][0]["md5OfBody"],
        "Attributes": sample["Records"][0]["attributes"],
        "MessageAttributes": {
            "kind": {"DataType": "String", "StringValue": "due"},
            "raw": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    }
    (record,) = sqs_event([message], "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")["Records"]
    assert set(sample["Records"][0]) <= set(record)
    assert record["eventSource"] == "aws:sqs"
    assert record["body"] == sample["Records"][0]["body"]
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "due",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["messageAttributes"]["raw"]["binaryValue"] == "AAE="
    assert json.loads(record["body"]).keys() == {"org_id", "provider", "id"}


@pytest.mark.parametrize(
    ("status", "result", "deleted"),
    [
        ("ok", {"batchItemFailures": []}, IDS),
        ("ok", {"batchItemFailures": None}, IDS),
        ("ok", {}, IDS),
        ("ok", None, IDS),
        ("ok", {"batchItemFailures": [{"itemIdentifier": "m2"}]}, ["m1", "m3"]),
        ("ok", {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m3"}]}, ["m2"]),
        # Malformed answers fail the whole batch, as Lambda does.
        ("ok", {"batchItemFailures": [{"itemIdentifier": ""}]}, []),
        ("ok", {"batchItemFailures": [{"itemIdentifier": None}]}, []),
        ("ok", {"batchItemFailures": [{"messageId": "m1"}]}, []),
        ("ok", {"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}, []),
        ("ok", "not an object", []),
        # The function raised or its instance died: nothing is deleted.
        ("error", "RuntimeError", []),
        ("error", "InstanceDied", []),
    ],
)
def test_which_messages_lambda_deletes_after_a_batch(status, result, deleted):
    assert processed_message_ids(IDS, status, result, report_batch_item_failures=True) == deleted


def test_without_report_batch_item_failures_a_successful_batch_is_deleted_whole():
    result = {"batchItemFailures": [{"itemIdentifier": "m2"}]}
    assert processed_message_ids(IDS, "ok", result, report_batch_item_failures=False) == IDS


def test_local_oauth_clients_default_to_a_local_id_and_a_random_secret(monkeypatch):
    monkeypatch.delenv("LOCAL_OAUTH_CLIENT_ID_ZOHO", raising=False)
    monkeypatch.delenv("LOCAL_OAUTH_CLIENT_SECRET_ZOHO", raising=False)
    first, second = local_oauth_client("zoho"), local_oauth_client("zoho")
    assert first["client_id"] == second["client_id"] == "local-zoho-client"
    assert first["client_secret"] != second["client_secret"] and len(first["client_secret"]) >= 32


def test_local_oauth_clients_can_be_the_developers_own(monkeypatch):
    monkeypatch.setenv("LOCAL_OAUTH_CLIENT_ID_SALESFORCE", "3MVG9-my-connected-app")
    monkeypatch.setenv("LOCAL_OAUTH_CLIENT_SECRET_SALESFORCE", "my-consumer-secret")
    assert local_oauth_client("salesforce") == {
        "client_id": "3MVG9-my-connected-app",
        "client_secret": "my-consumer-secret",
    }


def test_function_environment_resolves_template_references():
    refs = {
        "CredentialsTable": "tbl",
        "ApiKeysTable": "keys",
        "JwtSecretParameterName": "/p",
        "HmacKeyParameterName": "/h",
        "IdempotencyTable": "idem",
        "JwtAlgorithm": "HS256",
        "JwtJwksUrl": "",
        "JwtIssuer": "",
        "JwtAudience": "",
        "JwtMaxAgeSeconds": "",
        "JwtJwksCacheSeconds": "60",
        "JwtDefaultScopes": "credentials:read",
        "LogLevel": "INFO",
        "OAuthClientParameterPrefix": "/oauth/",
        "EventBusName": "default",
        "VerifyIntervalSeconds": "86400",
    }
    env = function_environment(refs, {("CredentialsKey", "Arn"): "arn:key"})
    assert env["TABLE_NAME"] == "tbl"
    assert env["API_KEYS_TABLE_NAME"] == "keys"
    assert env["KMS_KEY_ARN"] == "arn:key"
    assert env["JWT_SECRET_PARAMETER"] == "/p"
    assert (env["JWT_JWKS_CACHE_SECONDS"], env["JWT_DEFAULT_SCOPES"]) == ("60", "credentials:read")
    assert env["HMAC_KEY_PARAMETER"] == "/h"
    assert env["IDEMPOTENCY_TABLE_NAME"] == "idem"
    assert env["POWERTOOLS_TRACER_CAPTURE_RESPONSE"] == "false"
