"""Runs last (see conftest's ordering hook): after every other test has driven the routes, no
secret any test sent is in the table in plaintext or in the stack's logs."""

from typing import Any

import pytest
from smoke import attribute_bytes, scan_items

from .conftest import JWT_SECRET, TABLE_NAME, RunningStack, SecretLedger, aws_client, encoded_forms


def scan_table(stack: RunningStack) -> list[dict[str, Any]]:
    return scan_items(aws_client(stack, "dynamodb"), TABLE_NAME)


@pytest.fixture(autouse=True)
def _after_the_other_tests(request: pytest.FixtureRequest) -> None:
    """These checks mean something only after the rest of tests/e2e has driven the routes."""
    here = request.node.path
    if all(item.path == here for item in request.session.items):
        pytest.skip("run with the rest of tests/e2e: it records the secrets these tests look for")


def test_table_holds_no_plaintext_secret(stack: RunningStack, ledger: SecretLedger) -> None:
    # Given every secret the session sent (tokens, DSNs, metadata strings, API keys, JWTs)
    secrets = ledger.everything()
    assert len(ledger.values) >= 20 and ledger.credentials, "the ledger recorded too little to mean much"

    # When the whole table is scanned on the stack's embedded AWS
    items = scan_table(stack)
    rows = [item for item in items if "ciphertext" in item and "owner_org_id" not in item]
    assert len(rows) >= 20, "expected stored credentials"
    # (the check can see inside binary attributes: the ciphertext header carries its row's org id)
    assert all(row["org_id"]["S"].encode() in bytes(row["ciphertext"]["B"]) for row in rows)

    # Then no attribute of any item holds any of them, in any encoding
    leaks = []
    for item in items:
        for name, value in item.items():
            for blob in attribute_bytes(value):
                for secret in secrets:
                    if any(form in blob for form in encoded_forms(secret)):
                        leaks.append((item["org_id"]["S"], item["provider"]["S"], name, secret[:40]))
    assert not leaks, leaks


def test_logs_hold_no_secret(stack: RunningStack, ledger: SecretLedger) -> None:
    # Given the stack's captured stdout+stderr (its own and every worker's Powertools JSON logs)
    log = stack.log_path.read_bytes()
    after_banner = log[stack.banner_end_offset :]
    assert b'"service":"integration-credentials"' in after_banner, "expected the functions' logs"
    # (the check can see a key in the log: the banner prints the demo org's)
    assert any(form in log[: stack.banner_end_offset] for form in encoded_forms(stack.demo_api_key))

    # Then none of the secrets the tests sent appears in it, in any encoding
    leaks = [secret[:40] for secret in ledger.everything() if any(f in log for f in encoded_forms(secret))]
    assert not leaks, leaks

    # And after the startup banner, neither the JWT secret nor the demo key ever shows up again
    for secret in (JWT_SECRET, stack.demo_api_key):
        assert not any(form in after_banner for form in encoded_forms(secret)), secret[:12]
