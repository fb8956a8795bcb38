"""What the run left behind, after the API flow: no value sent in any item of the table, nothing
of the suite's left once it cleaned up, each request's audit record. PYTEST_DONT_REWRITE: failures
name labels (`seed salesforce.access_token`), never values."""

import json
import time

import pytest
from integration_credentials.core.constants import ID_MIRROR_PREFIX, ID_MIRROR_SORT_KEY

from smoke.audit import AUDIT_POLL_FIRST_SECONDS, AUDIT_POLL_MAX_SECONDS
from smoke.expect import expect, expect_reply
from smoke.plaintext import attribute_bytes, encoded_forms, scan_items
from smoke.state import BASE, SmokeRun


def test_no_value_sent_is_in_any_attribute_of_any_item_of_the_table(run: SmokeRun) -> None:
    target = run.target
    if target.dynamodb is None or not target.table_name:
        pytest.skip("no table to scan (--stack-name, a local base URL, or --table-name)")
    if not run.live or run.org_id is None:
        pytest.skip("the suite stored nothing to look for")
    checked = {
        value: label
        for value, label in run.sent.items()
        if not any(value in text for text in target.public_text if text)
    }
    items = scan_items(target.dynamodb, target.table_name)

    # The scan must see what the suite stored, and see inside binary attributes: the ciphertext's
    # header carries its row's org id in the clear.
    keys = {(item["org_id"].get("S"), item["provider"].get("S")): item for item in items}
    for credentials_id, provider in run.live.items():
        row = keys.get((run.org_id, provider))
        expect(row is not None, f"the scan did not see the {provider} row")
        assert row is not None
        expect(
            run.org_id.encode() in bytes(row.get("ciphertext", {}).get("B", b"")),
            f"the {provider} row has no ciphertext the check can read",
        )
        mirror = (ID_MIRROR_PREFIX + credentials_id, ID_MIRROR_SORT_KEY)
        expect(mirror in keys, f"the scan did not see the id mirror of {provider}")

    forms = {value: encoded_forms(value) for value in checked}
    leaks: list[str] = []
    for item in items:
        for name, value in item.items():
            for blob in attribute_bytes(value):
                leaks.extend(
                    f"{checked[secret]} in {item['org_id'].get('S')}/{item['provider'].get('S')} {name}"
                    for secret, secret_forms in forms.items()
                    if any(form in blob for form in secret_forms)
                )
    expect(not leaks, f"plaintext in {len(leaks)} place(s): {'; '.join(sorted(set(leaks))[:10])}")


@pytest.mark.always
def test_every_credential_the_suite_created_is_deleted(run: SmokeRun) -> None:
    problems = run.delete_live()
    expect(not problems, "not deleted: " + "; ".join(problems))
    if run.preflight_passed:
        for name, caller in (("API key", run.owner), ("other API key", run.other)):
            left = expect_reply(caller.get(f"{BASE}/"), 200)
            expect(left == [], f"the {name}'s org still holds {len(left)} credential(s)")


@pytest.mark.always
def test_each_request_has_its_record_in_the_audit_trail(run: SmokeRun) -> None:
    """After the cleanup (its deletes are audited too); waits up to the target's audit timeout."""
    source = run.target.audit
    if source is None:
        pytest.skip(
            "no audit channel to read (--stack-name, a local base URL, --audit-bucket or --audit-file)"
        )
    if not run.audit_expected:
        pytest.skip("no request to look for")
    deadline = time.monotonic() + run.target.audit_timeout
    delay = AUDIT_POLL_FIRST_SECONDS
    while True:
        records = source.records()
        missing = [expected for expected in run.audit_expected if not expected.found_in(records)]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 2, AUDIT_POLL_MAX_SECONDS)
    expect(
        not missing,
        f"not in the {source.describe()} after {run.target.audit_timeout:g} s: "
        + ", ".join(f"{e.action} {e.credentials_id} ({e.status})" for e in missing),
    )
    ours = set(run.ids.values())
    text = "\n".join(
        json.dumps(r) for r in records if r.get("credentials_id") in ours or r.get("org_id") == run.org_id
    )
    leaked = sorted(
        {label for value, label in run.sent.items() if value in text or json.dumps(value)[1:-1] in text}
    )
    expect(not leaked, f"the audit records hold values sent: {', '.join(leaked)}")
