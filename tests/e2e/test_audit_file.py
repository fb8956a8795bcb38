"""The local stack's audit channel is a file: one record per request, across worker processes."""

import json
import time

from .conftest import BASE, ROOT, SEED_EXAMPLES, Api, RunningStack


def records_for(stack: RunningStack, org_id: str, expected: int) -> list[dict]:
    path = ROOT / ".local" / f"audit-{stack.port}.jsonl"
    deadline = time.monotonic() + 5
    while True:
        found = []
        if path.exists():
            # Complete lines only: a function of the stack may be writing the next one right now.
            lines = path.read_text().split("\n")[:-1]
            found = [r for r in map(json.loads, lines) if r.get("org_id") == org_id]
        if len(found) >= expected or time.monotonic() > deadline:
            return found


def test_each_request_appends_one_record(api: Api, stack: RunningStack, make_org) -> None:
    # Given an org using a bearer token
    org = make_org(with_key=False)
    # When it creates, reads, lists and deletes through four different functions
    created = api.create(org.bearer, SEED_EXAMPLES["hubspot"])
    assert api.get(f"{BASE}/{created['id']}", org.bearer).status_code == 200
    assert api.get(f"{BASE}/", org.bearer).status_code == 200
    assert api.delete(f"{BASE}/{created['id']}", org.bearer).status_code == 200
    # Then the audit file holds exactly those four records, in order, naming the credentials
    records = records_for(stack, org.org_id, 4)
    assert [(r["action"], r["status"]) for r in records] == [
        ("create", 201),
        ("get", 200),
        ("list", 200),
        ("delete", 200),
    ]
    assert {r["credentials_id"] for r in records if r["action"] != "list"} == {created["id"]}
    assert all(r["principal_type"] == "jwt" and r["principal_id"] == "e2e-user" for r in records)
