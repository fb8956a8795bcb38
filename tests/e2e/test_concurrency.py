"""Concurrent writers over HTTP: one winner per org+provider, and no lost metadata updates."""

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from .conftest import BASE, SEED_EXAMPLES, Api, Org

RACERS = 16
WRITERS = 8
CONCURRENT_DETAIL_RETRIES = 20


def test_concurrent_creates_of_one_provider_have_exactly_one_winner(
    api: Api, make_org: Callable[..., Org]
) -> None:
    # Given 16 clients of one org (bearer JWTs), each with its own Salesforce token, at a barrier
    org = make_org(with_key=False)
    barrier = threading.Barrier(RACERS)

    def racer(index: int) -> tuple[int, requests.Response]:
        body = {**SEED_EXAMPLES["salesforce"], "access_token": f"racer-token-{index:02d}-{org.org_id}"}
        barrier.wait(timeout=30)
        return index, api.post(f"{BASE}/", org.bearer, json=body)

    # When they all POST at once
    with ThreadPoolExecutor(max_workers=RACERS) as pool:
        results = list(pool.map(racer, range(RACERS)))

    # Then exactly one gets 201 and the fifteen others the seed's 409
    statuses = sorted(response.status_code for _, response in results)
    assert statuses == [201] + [409] * (RACERS - 1), [(r.status_code, r.text) for _, r in results]
    for _, response in results:
        if response.status_code == 409:
            assert response.json() == {
                "detail": "Integration credentials for provider 'salesforce' already exist"
            }
    ((winner_index, winner),) = [(i, r) for i, r in results if r.status_code == 201]

    # And the stored credentials are the winner's
    stored = api.get(f"{BASE}/provider/salesforce", org.bearer)
    assert stored.status_code == 200, stored.text
    assert stored.json()["id"] == winner.json()["id"]
    assert stored.json()["access_token"] == f"racer-token-{winner_index:02d}-{org.org_id}"
    assert [c["id"] for c in api.get(BASE, org.bearer).json()] == [winner.json()["id"]]


def test_concurrent_metadata_updates_are_all_kept(api: Api, make_org: Callable[..., Org]) -> None:
    # Given stored Salesforce credentials (the org uses bearer JWTs)
    org = make_org(with_key=False)
    created = api.create(org.bearer, SEED_EXAMPLES["salesforce"])
    path = f"{BASE}/{created['id']}"
    barrier = threading.Barrier(WRITERS)

    def writer(index: int) -> list[requests.Response]:
        patch: dict[str, Any] = {"metadata": {f"writer_{index}": f"value-{index}-{org.org_id}"}}
        barrier.wait(timeout=30)
        attempts = [api.put(path, org.bearer, json=patch)]
        # A 409 asking to retry is allowed (optimistic concurrency); a client retries it.
        while attempts[-1].status_code == 409 and len(attempts) <= CONCURRENT_DETAIL_RETRIES:
            assert attempts[-1].json().get("detail"), attempts[-1].text
            time.sleep(0.05 * len(attempts))
            attempts.append(api.put(path, org.bearer, json=patch))
        return attempts

    # When 8 clients each add their own metadata key at the same time
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(writer, range(WRITERS)))

    # Then every update eventually lands with 200
    for index, attempts in enumerate(outcomes):
        final = attempts[-1]
        assert final.status_code == 200, (index, [(a.status_code, a.text) for a in attempts])

    # And the final metadata holds the seed's keys and all eight new ones (no lost update)
    stored = api.get(f"{BASE}/provider/salesforce", org.bearer).json()
    expected = {
        **SEED_EXAMPLES["salesforce"]["metadata"],
        **{f"writer_{i}": f"value-{i}-{org.org_id}" for i in range(WRITERS)},
    }
    assert stored["metadata"] == expected
    assert stored["access_token"] == SEED_EXAMPLES["salesforce"]["access_token"]
    assert stored["created_at"] == created["created_at"]
