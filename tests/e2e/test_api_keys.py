"""API key lifecycle through the admin CLI: mint, list (ids only), revoke (effective within the
cache TTL, which the session's stack sets to 1 s)."""

import hashlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from .conftest import BASE, UNAUTHORIZED, Api, RunningStack, mint_api_key, run_admin

REVOCATION_DEADLINE_SECONDS = 3.0


def key_id_of(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()[:16]


def test_minted_key_works_is_listed_by_id_and_stops_working_once_revoked(
    api: Api, stack: RunningStack
) -> None:
    # Given two keys minted for a new org by the CLI (PORT and AWS_ENDPOINT_URL targeting)
    org_id = str(uuid.uuid4())
    with ThreadPoolExecutor(max_workers=2) as pool:
        key, spare = pool.map(lambda via: mint_api_key(stack, org_id, via=via), ["port", "endpoint"])
    assert key != spare

    # Then the key works (and is now cached by the warm function instances)
    for _ in range(3):
        response = api.get(BASE, {"X-API-Key": key})
        assert (response.status_code, response.json()) == (200, [])

    # When the keys are listed
    with ThreadPoolExecutor(max_workers=2) as pool:
        listing, filtered = pool.map(
            lambda args: run_admin(stack, *args), [["list"], ["list", "--org-id", org_id]]
        )

    # Then the list shows their ids (first 16 hex chars of the SHA-256) and never the keys
    for result in (listing, filtered):
        assert result.returncode == 0, result.stderr
        for secret in (key, spare):
            assert secret not in result.stdout and secret not in result.stderr
        assert "sk_live_" not in result.stdout
    rows = [line.split("\t") for line in filtered.stdout.splitlines()]
    assert sorted(row[0] for row in rows) == sorted([key_id_of(key), key_id_of(spare)])
    assert all(row[1] == org_id and row[-1] == "active" for row in rows), rows
    all_ids = [line.split("\t")[0] for line in listing.stdout.splitlines()]
    assert key_id_of(key) in all_ids and key_id_of(spare) in all_ids

    # When the first key is revoked by id
    revoke = run_admin(stack, "revoke", key_id_of(key))
    revoked_at = time.monotonic()
    assert revoke.returncode == 0, revoke.stderr
    assert key not in revoke.stdout + revoke.stderr

    # Then within ~3 s (cache TTL 1 s) every request with it is the seed's 401, on any instance
    def burst() -> list[int]:
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda _: api.get(BASE, {"X-API-Key": key}).status_code, range(4)))

    statuses = burst()
    while statuses != [401] * 4 and time.monotonic() - revoked_at < REVOCATION_DEADLINE_SECONDS:
        time.sleep(0.2)
        statuses = burst()
    assert statuses == [401] * 4, f"revoked key still accepted after {REVOCATION_DEADLINE_SECONDS}s"
    for path in (BASE, f"{BASE}/provider/salesforce", f"{BASE}/{uuid.uuid4()}"):
        response = api.get(path, {"X-API-Key": key})
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED), path

    # And the other key of the same org keeps working
    assert api.get(BASE, {"X-API-Key": spare}).status_code == 200

    # And the list marks it revoked; revoking it again or revoking an unknown id fails
    commands = [["list", "--org-id", org_id], ["revoke", key_id_of(key)], ["revoke", "0123456789abcdef"]]
    with ThreadPoolExecutor(max_workers=3) as pool:
        after, again, unknown = pool.map(lambda args: run_admin(stack, *args), commands)
    rows = [line.split("\t") for line in after.stdout.splitlines()]
    statuses_by_id = {row[0]: row[-1] for row in rows}
    assert statuses_by_id[key_id_of(key)].startswith("revoked ")
    assert statuses_by_id[key_id_of(spare)] == "active"
    assert again.returncode == 1 and "already revoked" in again.stderr
    assert unknown.returncode == 1 and "no API key with id 0123456789abcdef" in unknown.stderr


def test_cli_rejects_an_invalid_org_id(stack: RunningStack) -> None:
    # When a key is requested for an org id the API could never authenticate
    result = run_admin(stack, "create", "--org-id", "ID#not-an-org")

    # Then the CLI refuses with a usage error and prints no key
    assert result.returncode == 2
    assert "sk_live_" not in result.stdout + result.stderr
    assert "--org-id must match" in result.stderr
