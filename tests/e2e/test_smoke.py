"""`make smoke` (the pytest suite tools/smoke/suite) against the session's local stack, so it
cannot rot: with two keys minted as the CLI mints them; the way it runs after `sam deploy` (--stack-name:
outputs from CloudFormation, keys minted and revoked, audit records from S3) on the stack's
embedded AWS, with a stand-in for Firehose; and failing loudly, cleaning up all the same."""

import gzip
import http.client
import http.server
import json
import re
import subprocess
import sys
import threading
import uuid
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from local_stack.provisioning import API_KEYS_TABLE, local_table_name
from smoke import SUITE

from .conftest import (
    BASE,
    ROOT,
    SEED_EXAMPLES,
    TABLE_NAME,
    Api,
    RunningStack,
    SecretLedger,
    aws_client,
    clean_environment,
    mint_api_key,
    run_admin,
)

SMOKE_TIMEOUT_SECONDS = 90


@dataclass
class SmokeResult:
    returncode: int
    stdout: str
    stderr: str
    outcomes: dict[str, str]  # test name -> passed, failed, skipped, error
    messages: dict[str, str]  # test name -> its failure or skip message

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_smoke(tmp_path: Path, *args: str, **env: str) -> SmokeResult:
    """`pytest tools/smoke/suite`, as `make smoke` runs it, with only these settings; each check's
    outcome read from its JUnit XML report."""
    report = tmp_path / f"smoke-{uuid.uuid4().hex[:8]}.xml"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(SUITE), "-v", f"--junitxml={report}", *args],
        cwd=ROOT,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )
    outcomes: dict[str, str] = {}
    messages: dict[str, str] = {}
    words = {"failure": "failed", "error": "error", "skipped": "skipped"}
    if report.exists():
        for case in ElementTree.parse(report).iter("testcase"):
            name = case.get("name", "")
            found = [child for child in case if child.tag in words]
            # A teardown error comes after the test's own outcome: the first says how the check went.
            outcomes[name] = words[found[0].tag] if found else "passed"
            messages[name] = found[0].get("message", "") if found else ""
    return SmokeResult(result.returncode, result.stdout, result.stderr, outcomes, messages)


# Every check of the suite, by the name of its test (the flow's order).
CHECKS = (
    "test_no_api_key_or_an_unknown_one_is_401_with_the_seed_text",
    "test_preflight_both_keys_are_accepted_and_their_orgs_hold_no_credentials",
    "test_the_seed_examples_are_stored_201_and_a_second_is_409",
    "test_post_without_the_slash_stores_a_custom_credential",
    "test_a_body_without_provider_is_400_with_the_seed_text",
    "test_each_reads_back_by_id_and_by_provider_as_stored",
    "test_both_list_paths_list_exactly_them",
    "test_the_other_org_gets_403_on_get_update_delete_and_refresh_by_id",
    "test_the_other_org_gets_404_by_provider_and_an_empty_list",
    "test_put_rotates_the_token_and_merges_metadata",
    "test_credentials_responses_and_refusals_are_no_store",
    "test_a_write_only_key_gets_403_on_get_and_no_stored_secret_from_a_put",
    "test_credentials_that_cannot_be_refreshed_are_409",
    "test_verify_refuses_what_no_crm_can_check_and_another_orgs_credentials",
    "test_a_create_with_a_verify_no_crm_can_do_is_400_and_stores_nothing",
    "test_delete_answers_the_seed_message_then_every_route_is_404",
    "test_a_delete_with_revoke_false_keeps_the_grant_and_another_value_is_400",
    "test_connect_refuses_a_foreign_return_url_and_an_unknown_state",
    "test_no_value_sent_is_in_any_attribute_of_any_item_of_the_table",
)
CLEANUP = "test_every_credential_the_suite_created_is_deleted"
AUDIT = "test_each_request_has_its_record_in_the_audit_trail"


def mint_keys(stack: RunningStack, *org_ids: str) -> list[str]:
    """A key for each org id, minted side by side."""
    with ThreadPoolExecutor(max_workers=len(org_ids)) as pool:
        return list(pool.map(lambda org_id: mint_api_key(stack, org_id), org_ids))


def assert_all_passed(result: SmokeResult) -> None:
    assert result.returncode == 0, result.output
    assert result.outcomes == dict.fromkeys((*CHECKS, CLEANUP, AUDIT), "passed"), result.output
    assert re.search(r"^=+ 21 passed in ", result.stdout, re.M), result.output


def test_smoke_suite_passes_against_the_local_stack(
    stack: RunningStack, ledger: SecretLedger, api: Api, tmp_path: Path
) -> None:
    # Given two fresh orgs with keys minted as the CLI mints them
    orgs = [str(uuid.uuid4()), str(uuid.uuid4())]
    keys = mint_keys(stack, *orgs)
    # And a write-only key of the first org, for the scope rule's check
    minted = run_admin(stack, "create", "--org-id", orgs[0], "--scope", "credentials:write")
    assert minted.returncode == 0, minted.stderr
    keys.append(minted.stdout.strip())
    for key in keys:
        ledger.add_credential(key)

    # When the smoke suite runs against the stack with them (its table and audit file found from the URL)
    result = run_smoke(
        tmp_path,
        SMOKE_BASE_URL=stack.base_url,
        SMOKE_API_KEY=keys[0],
        SMOKE_OTHER_API_KEY=keys[1],
        SMOKE_WRITE_ONLY_API_KEY=keys[2],
    )

    # Then every check passes, and nothing it printed holds a key
    assert_all_passed(result)
    assert not any(key in result.output for key in keys), "a key is in the suite's output"
    assert "sk_live_" not in result.output
    # And it left nothing behind
    for key in keys[:2]:
        assert api.get(BASE, {"X-API-Key": key}).json() == []


class FakeFirehose:
    """Stands in for the log subscription + Firehose: copies the stack's new audit lines, every
    0.3 s, into GZIP objects under audit/yyyy/MM/dd/ of a bucket (as the template's stream does)."""

    def __init__(self, stack: RunningStack, bucket: str) -> None:
        self.s3 = aws_client(stack, "s3")
        self.bucket = bucket
        self.path = ROOT / ".local" / f"audit-{stack.port}.jsonl"
        self.offset = self.path.stat().st_size if self.path.exists() else 0
        self.objects = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-firehose", daemon=True)

    def __enter__(self) -> "FakeFirehose":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(0.3):
            data = self.path.read_bytes() if self.path.exists() else b""
            end = data.rfind(b"\n") + 1
            if end <= self.offset:
                continue
            now = datetime.now(UTC)
            key = f"audit/{now:%Y/%m/%d}/audit-stream-1-{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4()}.gz"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=gzip.compress(data[self.offset : end]))
            self.offset = end
            self.objects += 1


@pytest.fixture
def deployed_stack(stack: RunningStack) -> Iterator[str]:
    """A CloudFormation stack on the embedded AWS whose outputs name the local stack's URL,
    tables and key, as `sam deploy`'s would, and an audit bucket of its own."""
    cloudformation = aws_client(stack, "cloudformation")
    key_arn = aws_client(stack, "kms").list_keys()["Keys"][0]["KeyArn"]
    name = f"smoke-{uuid.uuid4().hex[:12]}"
    template = {
        "Resources": {"AuditBucket": {"Type": "AWS::S3::Bucket"}},
        "Outputs": {
            "ApiUrl": {"Value": stack.base_url},
            "ApiKeysTableName": {"Value": local_table_name(API_KEYS_TABLE)},
            "CredentialsTableName": {"Value": TABLE_NAME},
            "AuditBucketName": {"Value": {"Ref": "AuditBucket"}},
            "CredentialsKeyArn": {"Value": key_arn},
        },
    }
    cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
    try:
        yield name
    finally:
        cloudformation.delete_stack(StackName=name)


def test_smoke_suite_with_a_stack_name_mints_reads_s3_and_revokes(
    stack: RunningStack, deployed_stack: str, tmp_path: Path
) -> None:
    # Given a stack whose audit records reach its bucket through a (fake) Firehose
    outputs = aws_client(stack, "cloudformation").describe_stacks(StackName=deployed_stack)["Stacks"][0]
    bucket = next(o["OutputValue"] for o in outputs["Outputs"] if o["OutputKey"] == "AuditBucketName")
    with FakeFirehose(stack, bucket) as firehose:
        # When the smoke suite runs with only the stack's name (and the operator's AWS settings)
        result = run_smoke(
            tmp_path,
            SMOKE_STACK_NAME=deployed_stack,
            AWS_ENDPOINT_URL=stack.aws_endpoint,
            SMOKE_AUDIT_TIMEOUT="20",
        )
    # Then every check passes, the audit check among them reading the bucket's GZIP objects
    assert_all_passed(result)
    assert firehose.objects > 0
    assert "sk_live_" not in result.output
    assert "smoke: the temporary API keys are revoked" in result.stdout

    # And the two keys it minted, for two fresh orgs, are revoked
    minted = re.findall(r"([0-9a-f]{16}) \(org (smoke-[0-9a-f-]{36})\)", result.stdout)
    # (two orgs, and a write-only key of the first)
    assert len(minted) == 3 and minted[0][1] != minted[1][1], result.stdout
    assert minted[2][1] == minted[0][1], result.stdout
    items = aws_client(stack, "dynamodb").scan(TableName=local_table_name(API_KEYS_TABLE))["Items"]
    rows = {item["key_id"]["S"]: item for item in items}
    for key_id, org_id in minted:
        assert rows[key_id]["org_id"]["S"] == org_id
        assert "revoked_at" in rows[key_id], key_id


def test_a_failing_smoke_run_exits_non_zero_names_the_checks_and_still_cleans_up(
    stack: RunningStack, api: Api, ledger: SecretLedger, tmp_path: Path
) -> None:
    # Given two keys of one org passed as two orgs' (so "the other org" is the same org)
    org_id = str(uuid.uuid4())
    key, same_org_key = mint_keys(stack, org_id, org_id)
    for minted in (key, same_org_key):
        ledger.add_credential(minted)

    # When the smoke suite runs with them
    result = run_smoke(
        tmp_path,
        SMOKE_BASE_URL=stack.base_url,
        SMOKE_API_KEY=key,
        SMOKE_OTHER_API_KEY=same_org_key,
        SMOKE_AUDIT_TIMEOUT="1",
    )

    # Then it exits 1, naming the tenancy checks as failed (and what the other org could do)
    assert result.returncode == 1, result.output
    tenancy_by_id, tenancy_by_provider = CHECKS[7], CHECKS[8]
    assert result.outcomes[tenancy_by_id] == "failed", result.output
    assert result.outcomes[tenancy_by_provider] == "failed", result.output
    assert "expected 403, got 200" in result.messages[tenancy_by_id]
    assert re.search(r"^=+ [1-9]\d* failed, \d+ passed", result.stdout, re.M), result.output
    # And nothing it printed holds a key or a stored value (the failures name statuses and fields)
    assert not any(k in result.output for k in (key, same_org_key)), "a key is in the suite's output"
    assert "sk_live_" not in result.output
    assert not any(body["access_token"] in result.output for body in SEED_EXAMPLES.values())
    # And it still deleted everything it had stored
    assert result.outcomes[CLEANUP] == "passed", result.output
    assert api.get(BASE, {"X-API-Key": key}).json() == []


def test_the_same_key_twice_stops_at_the_preflight_and_writes_nothing(
    stack: RunningStack, api: Api, ledger: SecretLedger, tmp_path: Path
) -> None:
    # Given one key passed as both orgs'
    key = mint_api_key(stack, str(uuid.uuid4()))
    ledger.add_credential(key)
    # When the smoke suite runs with it
    result = run_smoke(tmp_path, SMOKE_BASE_URL=stack.base_url, SMOKE_API_KEY=key, SMOKE_OTHER_API_KEY=key)
    # Then the preflight fails, and every later check is skipped (the cleanup and audit still run)
    assert result.returncode == 1, result.output
    assert result.outcomes[CHECKS[1]] == "failed", result.output
    assert "the two API keys are the same" in result.messages[CHECKS[1]]
    assert all(result.outcomes[name] == "skipped" for name in CHECKS[2:]), result.output
    assert all("stopped after" in result.messages[name] for name in CHECKS[2:]), result.output
    assert result.outcomes[CLEANUP] == "passed", result.output
    assert key not in result.output, "the key is in the suite's output"
    assert api.get(BASE, {"X-API-Key": key}).json() == []


class DroppingProxy(http.server.BaseHTTPRequestHandler):
    """Forwards every request to the stack and drops the answer's Cache-Control and Pragma, as a
    misconfigured gateway or CDN in front of a stage would."""

    upstream: tuple[str, int]
    DROPPED = frozenset({"cache-control", "pragma", "connection", "transfer-encoding", "content-length"})

    def forward(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        upstream = http.client.HTTPConnection(*self.upstream, timeout=30)
        try:
            upstream.request(self.command, self.path, body or None, dict(self.headers.items()))
            answer = upstream.getresponse()
            data = answer.read()
        finally:
            upstream.close()
        self.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in self.DROPPED:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = forward  # noqa: N815 (http.server names them so)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def no_store_dropping_proxy(stack: RunningStack) -> Iterator[str]:
    handler = type("Proxy", (DroppingProxy,), {"upstream": ("127.0.0.1", stack.port)})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_stage_whose_answers_lack_no_store_fails_that_check_alone(
    stack: RunningStack, ledger: SecretLedger, api: Api, tmp_path: Path, no_store_dropping_proxy: str
) -> None:
    # Given the local stack behind a proxy that drops Cache-Control and Pragma, and two fresh orgs
    keys = mint_keys(stack, str(uuid.uuid4()), str(uuid.uuid4()))
    for key in keys:
        ledger.add_credential(key)
    # When the smoke suite runs against the proxy (the stack's table and audit file named)
    result = run_smoke(
        tmp_path,
        "--aws-endpoint-url",
        stack.aws_endpoint,
        "--audit-file",
        str(ROOT / ".local" / f"audit-{stack.port}.jsonl"),
        SMOKE_BASE_URL=no_store_dropping_proxy,
        SMOKE_API_KEY=keys[0],
        SMOKE_OTHER_API_KEY=keys[1],
    )
    # Then the run fails on the cache check, naming the headers, and every other check passes
    # (the scope check skips: no write-only key was given)
    assert result.returncode == 1, result.output
    no_store = "test_credentials_responses_and_refusals_are_no_store"
    assert result.outcomes[no_store] == "failed", result.output
    assert "Cache-Control None, Pragma None" in result.messages[no_store]
    scope = "test_a_write_only_key_gets_403_on_get_and_no_stored_secret_from_a_put"
    assert result.outcomes.pop(scope) == "skipped"
    assert result.outcomes.pop(no_store) == "failed"
    assert set(result.outcomes.values()) == {"passed"}, result.output
    assert not any(key in result.output for key in keys)
    assert api.get(BASE, {"X-API-Key": keys[0]}).json() == []


def test_a_base_url_nobody_answers_fails_at_the_first_check_and_stops(tmp_path: Path) -> None:
    # When the smoke suite runs against a stage that does not exist, with keys
    fake_keys = ("sk_live_" + "a" * 40, "sk_live_" + "b" * 40)
    result = run_smoke(
        tmp_path,
        "--http-timeout",
        "5",
        SMOKE_BASE_URL="https://smoke-target.invalid",
        SMOKE_API_KEY=fake_keys[0],
        SMOKE_OTHER_API_KEY=fake_keys[1],
    )
    # Then the first check fails saying nobody answered, and the later ones are skipped
    assert result.returncode == 1, result.output
    assert result.outcomes[CHECKS[0]] == "failed", result.output
    assert "no answer from https://smoke-target.invalid" in result.messages[CHECKS[0]]
    assert all(result.outcomes[name] == "skipped" for name in CHECKS[1:]), result.output
    assert not any(key in result.output for key in fake_keys)
