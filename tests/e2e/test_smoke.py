"""`make smoke` (smoke) against the session's local stack, so it cannot rot:
with two keys minted by the CLI; the way it runs after `sam deploy` (STACK_NAME: outputs from
CloudFormation, keys minted and revoked, audit records from S3) on the stack's embedded AWS, with a
stand-in for Firehose; and failing loudly, cleaning up all the same."""

import gzip
import json
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from local_stack.provisioning import API_KEYS_TABLE, local_table_name
from smoke import CHECKS, CLEANUP

from .conftest import (
    BASE,
    ROOT,
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


def run_smoke(**env: str) -> subprocess.CompletedProcess[str]:
    """`python -m smoke`, as `make smoke` runs it, with only these settings."""
    return subprocess.run(
        [sys.executable, "-m", "smoke"],
        cwd=ROOT,
        env=clean_environment(**env),
        capture_output=True,
        text=True,
        timeout=SMOKE_TIMEOUT_SECONDS,
        check=False,
    )


def mint_keys(stack: RunningStack, *org_ids: str) -> list[str]:
    """A key for each org id, minted by the CLI side by side."""
    with ThreadPoolExecutor(max_workers=len(org_ids)) as pool:
        return list(pool.map(lambda org_id: mint_api_key(stack, org_id), org_ids))


def outcome(output: str, name: str) -> str | None:
    """PASS, FAIL or SKIP: what the suite's line for the check named so (or starting so) says."""
    for line in output.splitlines():
        word, _, rest = line.partition("  ")
        if word in {"PASS", "FAIL", "SKIP"} and rest.startswith(name):
            return word
    return None


def assert_all_passed(result: subprocess.CompletedProcess[str], *extra_checks: str) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    expected = [name for name, _ in CHECKS] + [CLEANUP[0], "audit: ", *extra_checks]
    assert all(outcome(result.stdout, name) == "PASS" for name in expected), result.stdout
    assert not re.search(r"^(FAIL|SKIP) ", result.stdout, re.M), result.stdout
    assert re.search(r"^smoke: \d+ passed, 0 failed, 0 skipped$", result.stdout, re.M), result.stdout


def test_smoke_suite_passes_against_the_local_stack(
    stack: RunningStack, ledger: SecretLedger, api: Api
) -> None:
    # Given two fresh orgs with keys minted by the CLI
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
        SMOKE_BASE_URL=stack.base_url,
        SMOKE_API_KEY=keys[0],
        SMOKE_OTHER_API_KEY=keys[1],
        SMOKE_WRITE_ONLY_API_KEY=keys[2],
    )

    # Then every check passes, and nothing it printed holds a key
    assert_all_passed(result)
    for key in keys:
        assert key not in result.stdout + result.stderr
    assert "sk_live_" not in result.stdout + result.stderr
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
    stack: RunningStack, deployed_stack: str
) -> None:
    # Given a stack whose audit records reach its bucket through a (fake) Firehose
    outputs = aws_client(stack, "cloudformation").describe_stacks(StackName=deployed_stack)["Stacks"][0]
    bucket = next(o["OutputValue"] for o in outputs["Outputs"] if o["OutputKey"] == "AuditBucketName")
    with FakeFirehose(stack, bucket) as firehose:
        # When the smoke suite runs with only the stack's name (and the operator's AWS settings)
        result = run_smoke(
            SMOKE_STACK_NAME=deployed_stack, AWS_ENDPOINT_URL=stack.aws_endpoint, SMOKE_AUDIT_TIMEOUT="20"
        )
    # Then every check passes, the audit check among them reading the bucket's GZIP objects
    assert_all_passed(result, "cleanup: the temporary API keys are revoked")
    assert firehose.objects > 0
    assert "sk_live_" not in result.stdout + result.stderr

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
    stack: RunningStack, api: Api, ledger: SecretLedger
) -> None:
    # Given two keys of one org passed as two orgs' (so "the other org" is the same org)
    org_id = str(uuid.uuid4())
    key, same_org_key = mint_keys(stack, org_id, org_id)
    for minted in (key, same_org_key):
        ledger.add_credential(minted)

    # When the smoke suite runs with them
    result = run_smoke(
        SMOKE_BASE_URL=stack.base_url,
        SMOKE_API_KEY=key,
        SMOKE_OTHER_API_KEY=same_org_key,
        SMOKE_AUDIT_TIMEOUT="1",
    )

    # Then it exits 1, naming the tenancy checks as failed (and what the other org could do)
    assert result.returncode == 1, result.stdout + result.stderr
    assert outcome(result.stdout, "tenancy: the other org gets 403") == "FAIL"
    assert outcome(result.stdout, "tenancy: the other org gets 404") == "FAIL"
    assert "expected 403, got 200" in result.stdout
    assert re.search(r"^smoke: \d+ passed, [1-9]\d* failed, \d+ skipped$", result.stdout, re.M)
    assert key not in result.stdout + result.stderr and same_org_key not in result.stdout + result.stderr
    # And it still deleted everything it had stored
    assert outcome(result.stdout, CLEANUP[0]) == "PASS"
    assert api.get(BASE, {"X-API-Key": key}).json() == []


def test_the_same_key_twice_stops_at_the_preflight_and_writes_nothing(
    stack: RunningStack, api: Api, ledger: SecretLedger
) -> None:
    # Given one key passed as both orgs'
    key = mint_api_key(stack, str(uuid.uuid4()))
    ledger.add_credential(key)
    # When the smoke suite runs with it
    result = run_smoke(SMOKE_BASE_URL=stack.base_url, SMOKE_API_KEY=key, SMOKE_OTHER_API_KEY=key)
    # Then the preflight fails, and every later check is skipped
    assert result.returncode == 1, result.stdout + result.stderr
    assert outcome(result.stdout, "preflight: ") == "FAIL"
    assert "the two API keys are the same" in result.stdout
    assert all(outcome(result.stdout, name) == "SKIP" for name, _ in CHECKS[2:]), result.stdout
    assert api.get(BASE, {"X-API-Key": key}).json() == []
