"""What the run left behind: no value sent in any item of the table, each request's audit record."""

import json
import time

from integration_credentials.core.constants import ID_MIRROR_PREFIX, ID_MIRROR_SORT_KEY

from .audit import AUDIT_POLL_FIRST_SECONDS, AUDIT_POLL_MAX_SECONDS
from .errors import SkippedError
from .expect import expect
from .plaintext import attribute_bytes, encoded_forms, scan_items
from .state import SmokeRun


def check_no_plaintext(run: SmokeRun) -> None:
    target = run.target
    if target.dynamodb is None or not target.table_name:
        raise SkippedError("no table to scan (STACK_NAME, a local base URL, or --table-name)")
    if not run.live or run.org_id is None:
        raise SkippedError("the suite stored nothing to look for")
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


def check_audit(run: SmokeRun) -> None:
    source = run.target.audit
    if source is None:
        raise SkippedError(
            "no audit channel to read (STACK_NAME, a local base URL, --audit-bucket or --audit-file)"
        )
    if not run.audit_expected:
        raise SkippedError("no request to look for")
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
