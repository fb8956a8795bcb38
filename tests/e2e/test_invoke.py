"""`make invoke`: every file in events/, as it is, run through the invoke code path against one
local stack (make invoke's own: embedded AWS, fake CRMs, the demo data `make run` seeds), with the
status the docs give for it; the CLI as a developer runs it; and `make sam-env`'s file checked
against the SAM-translated template."""

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from local_stack import invoke
from local_stack.demo import DEMO_API_KEY, DEMO_CREDENTIALS_ID, DEMO_ORG_ID
from local_stack.embedded_aws import FAKE_CREDENTIALS, REGION
from local_stack.iam import translated
from local_stack.sam_env import ADD_HOST, declared_variables, sam_commands, sam_env_vars
from local_stack.sam_env import main as sam_env_main
from local_stack.stack_file import write_stack_file
from local_stack.template import ROOT, load_template, resources_of_type, table_resource

EVENTS = sorted((ROOT / "events").glob("*.json"))

# What each event file gives, as it is, on a stack holding only the demo data (make invoke's own
# stack, or make run FAKE_CRMS=1): an HTTP function's status, the other functions' answer.
DOCUMENTED_STATUS = {
    "connect_credentials": 201,
    "create_credentials": 201,  # the demo org's Salesforce credentials (409 once they exist)
    "delete_credentials": 200,
    "get_credentials": 200,
    "get_credentials_by_provider": 200,
    "list_credentials": 200,
    "oauth_callback": 400,  # its state was never issued: a real one comes from a connect URL
    "refresh_credentials": 200,  # the fake HubSpot's grant (503 on make run without FAKE_CRMS, offline)
    "update_credentials": 200,
    "verify_credentials": 200,  # a check that was made answers 200, whatever the CRM said
}
DOCUMENTED_ANSWER: dict[str, Any] = {
    "refresh_scheduler": {"visits": 16, "shards": 64},  # a run: 16 ranges of the index's 64 shards
    "refresh_shard_scanner": {"batchItemFailures": []},  # its range scanned (the demo credential is not due)
    "refresh_worker": {"batchItemFailures": []},  # the worker skips it: not due
}
# Settings of the developer's shell or of other suites in this process that would redirect the functions.
_SCRUBBED_PREFIXES = ("AWS_", "POWERTOOLS_", "JWT_", "OAUTH_", "REFRESH_", "LOCAL_", "CONNECT_")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[invoke.Target]:
    template_names = set(load_template()["Globals"]["Function"]["Environment"]["Variables"])
    for resource in resources_of_type("AWS::Serverless::Function").values():
        template_names |= set(resource["Properties"].get("Environment", {}).get("Variables", {}))
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith(_SCRUBBED_PREFIXES) or name in template_names:
            del os.environ[name]
    os.environ["AUDIT_LOG_FILE"] = str(tmp_path_factory.mktemp("invoke") / "audit.jsonl")
    try:
        with invoke.own_stack(_free_port()) as stack:
            yield stack
    finally:
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture(scope="module")
def credentials_table(target: invoke.Target) -> Any:
    return boto3.resource(
        "dynamodb",
        endpoint_url=target.endpoint,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ).Table(target.resources.table_name)


def _items(table: Any) -> list[dict[str, Any]]:
    return list(table.scan(ConsistentRead=True)["Items"])


@pytest.fixture(scope="module")
def seeded(credentials_table: Any) -> list[dict[str, Any]]:
    """The credentials table as the stack seeded it."""
    return _items(credentials_table)


@pytest.fixture
def demo_data(credentials_table: Any, seeded: list[dict[str, Any]]) -> Iterator[None]:
    """Each event meets the demo data as seeded, whatever ran before (delete, update, create)."""
    keys = [key["AttributeName"] for key in table_resource()[1]["KeySchema"]]
    # Two batches: one batch may not both delete and put an item.
    with credentials_table.batch_writer() as batch:
        for item in _items(credentials_table):
            batch.delete_item(Key={key: item[key] for key in keys})
    with credentials_table.batch_writer() as batch:
        for item in seeded:
            batch.put_item(Item=item)
    yield


def test_the_demo_key_has_the_shape_of_a_minted_key() -> None:
    assert DEMO_API_KEY.startswith("sk_live_LOCALDEMO")
    assert len(DEMO_API_KEY.removeprefix("sk_live_")) == 40 and DEMO_API_KEY[8:].isalnum()


def test_the_stack_seeds_the_credential_the_events_name(seeded: list[dict[str, Any]]) -> None:
    # The row is the repository's (its GET decrypts it: test_every_event_invokes_as_it_is)
    (row,) = [
        item for item in seeded if item["org_id"] == DEMO_ORG_ID and item.get("id") == DEMO_CREDENTIALS_ID
    ]
    assert row["provider"] == "hubspot" and row["ciphertext"]


@pytest.mark.parametrize("event_path", EVENTS, ids=[path.stem for path in EVENTS])
@pytest.mark.usefixtures("demo_data")
def test_every_event_invokes_as_it_is(target: invoke.Target, event_path: Path) -> None:
    # Given an event file, named after the folder of its function
    assert event_path.stem in DOCUMENTED_STATUS or event_path.stem in DOCUMENTED_ANSWER, (
        f"document what events/{event_path.name} gives (here and in docs/development.md)"
    )
    function = invoke.find_function(event_path.stem)
    # When make invoke's code path runs its function with it
    status, result = invoke.invoke(function, invoke.load_event(event_path), target)
    # Then the handler answers what the docs say
    assert status == "ok", result
    answer = invoke.printable(result)
    if event_path.stem in DOCUMENTED_STATUS:
        assert answer["status"] == DOCUMENTED_STATUS[event_path.stem], answer
    else:
        expected = DOCUMENTED_ANSWER[event_path.stem]
        assert {name: answer.get(name) for name in expected} == expected, answer


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "local_stack.invoke", *args],
        cwd=ROOT,
        env=env or dict(os.environ),
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.mark.usefixtures("demo_data")
def test_the_cli_prints_the_response_as_json_on_a_running_stack(
    target: invoke.Target, tmp_path: Path
) -> None:
    # Given a running stack's description, as make run writes it
    stack = write_stack_file(tmp_path / "stack.json", target.endpoint, target.resources, target.defaults)
    # When a developer invokes GetCredentialsFunction with its event
    done = _cli(
        "GetCredentialsFunction",
        "events/get_credentials.json",
        "--port",
        str(target.port),
        "--stack-file",
        str(stack),
    )
    # Then stdout is the response alone, as JSON, and the exit status 0
    assert done.returncode == 0, done.stderr
    response = json.loads(done.stdout)
    assert response["status"] == 200
    assert response["body"]["id"] == DEMO_CREDENTIALS_ID
    assert "make run's embedded AWS" in done.stderr


@pytest.mark.usefixtures("demo_data")
def test_an_unhandled_error_is_a_non_zero_exit(target: invoke.Target, tmp_path: Path) -> None:
    # Given an event no API Gateway would send (no request context)
    stack = write_stack_file(tmp_path / "stack.json", target.endpoint, target.resources, target.defaults)
    event = tmp_path / "broken.json"
    event.write_text("{}")
    # When the function is invoked with it
    done = _cli("RefreshWorkerFunction", str(event), "--port", str(target.port), "--stack-file", str(stack))
    # Then the exit status says the function failed, and stdout names the error's type
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert set(json.loads(done.stdout)) == {"errorType"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["NoSuchFunction", "events/get_credentials.json"], "unknown function 'NoSuchFunction'"),
        (["get_credentials", "events/no_such_event.json"], "no event file 'events/no_such_event.json'"),
    ],
)
def test_an_unknown_function_or_event_file_is_a_clear_error(args: list[str], message: str) -> None:
    done = _cli(*args, "--port", str(_free_port()))
    assert done.returncode == 2
    assert message in done.stderr
    assert done.stdout == ""


def test_a_stack_file_whose_aws_does_not_answer_is_no_running_stack(
    target: invoke.Target, tmp_path: Path
) -> None:
    # Given a stack file left by a stack that was killed (its embedded AWS is gone)
    dead = f"http://127.0.0.1:{_free_port()}"
    stack = write_stack_file(tmp_path / "stack.json", dead, target.resources, target.defaults)
    # Then invoke does not take it for a running stack (it would start its own)
    assert invoke.running_stack(target.port, stack) is None
    live = write_stack_file(tmp_path / "live.json", target.endpoint, target.resources, target.defaults)
    assert invoke.running_stack(target.port, live) is not None


def test_sam_env_gives_each_function_only_the_variables_it_declares(
    target: invoke.Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given the SAM-translated template (what `sam local` reads after `sam build`)
    declared = declared_variables(translated(load_template(), REGION))
    assert set(declared) == set(resources_of_type("AWS::Serverless::Function"))
    # When make sam-env writes its file for a running stack
    stack = write_stack_file(tmp_path / "stack.json", target.endpoint, target.resources, target.defaults)
    output = tmp_path / "sam-env.json"
    assert (
        sam_env_main(["--port", str(target.port), "--stack-file", str(stack), "--output", str(output)]) == 0
    )
    env_vars = json.loads(output.read_text())
    # Then there is one entry per function, with exactly the variables it declares
    assert set(env_vars) == set(declared)
    for function, names in declared.items():
        assert set(env_vars[function]) == names, function
        # naming the stack's resources, its AWS URLs as a container reaches them
        assert env_vars[function]["TABLE_NAME"] == target.resources.table_name
        assert env_vars[function]["KMS_KEY_ARN"] == target.resources.kms_key_arn
    aws_port = target.endpoint.rsplit(":", 1)[1]
    queue_url = env_vars["RefreshShardScannerFunction"]["REFRESH_QUEUE_URL"]
    assert queue_url.startswith(f"http://host.docker.internal:{aws_port}/")
    assert env_vars == sam_env_vars(target.resources, target.endpoint, target.port, declared, target.defaults)
    # And it prints the sam local commands that use the file, as the docs show them
    printed = capsys.readouterr().err
    for command in sam_commands(output, target.endpoint):
        assert command in printed
        assert f"--env-vars {output} {ADD_HOST}" in command
        # with the parameter that declares AWS_ENDPOINT_URL (SAM drops an undeclared variable)
        assert f"--parameter-overrides LocalAwsEndpointUrl=http://host.docker.internal:{aws_port}" in command
    assert all("AWS_ENDPOINT_URL" in names for names in declared.values())
    assert all(
        env_vars[function]["AWS_ENDPOINT_URL"] == f"http://host.docker.internal:{aws_port}"
        for function in declared
    )
