"""No secret any test sent the session's stack reached its table in plaintext or its logs, in any
encoding (the one scanner, tests/plaintext.py). Checked by the `stack` fixture when it stops,
whatever ran before: the table while the stack still serves, the whole log once it has exited."""

from typing import Any

from smoke import scan_items

from tests.plaintext import encoded_forms, leaks_in_bytes, leaks_in_items


def check_table(dynamodb: Any, table_name: str, secrets: set[str]) -> None:
    # Given every secret the session sent (tokens, DSNs, metadata strings, API keys, JWTs)
    # When the whole table is scanned on the stack's embedded AWS
    items = scan_items(dynamodb, table_name)
    rows = [item for item in items if "ciphertext" in item and "owner_org_id" not in item]
    if rows:
        # (the tests that stored these sent secrets, and the ledger recorded them)
        assert secrets, "credentials were stored but the ledger recorded no secret"
    # (the check can see inside binary attributes: the ciphertext header carries its row's org id)
    assert all(row["org_id"]["S"].encode() in bytes(row["ciphertext"]["B"]) for row in rows)
    # Then no attribute of any item holds any of them, in any encoding
    leaks = leaks_in_items(items, secrets)
    assert not leaks, leaks


def check_logs(log: bytes, banner_end: int, demo_api_key: str, jwt_secret: str, secrets: set[str]) -> None:
    # Given the stack's captured stdout+stderr (its own and every worker's Powertools JSON logs)
    after_banner = log[banner_end:]
    # (the check can see a key in the log: the banner prints the demo org's)
    assert any(form in log[:banner_end] for form in encoded_forms(demo_api_key))
    # Then none of the secrets the tests sent appears in it, in any encoding
    leaks = leaks_in_bytes(log, secrets)
    assert not leaks, leaks
    # And after the startup banner, neither the JWT secret nor the demo key ever shows up again
    assert not leaks_in_bytes(after_banner, {jwt_secret, demo_api_key})
