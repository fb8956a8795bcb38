"""Bodies: the 64 KiB cap, exact JSON round trips of metadata, non-JSON content types."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from .conftest import BASE, SEED_EXAMPLES, Api, Org

MAX_BODY_BYTES = 65_536

RICH_METADATA: dict[str, Any] = {
    "nested": {"deeper": {"deepest": {"list": [1, "two", 3.5, None, True, False, {"k": []}]}}},
    "list_of_objects": [{"a": 1}, {"b": [1, 2, [3, [4]]]}, {}],
    "null_value": None,
    "true": True,
    "false": False,
    "zero": 0,
    "one_float": 1.0,
    "tenth": 0.1,
    "tiny": 1e-7,
    "huge_float": 1.5e300,
    "negative": -42,
    "big_int": 2**70,
    "negative_big_int": -(2**65) + 7,
    "empty_string": "",
    "empty_object": {},
    "empty_list": [],
    "emoji": "🔑🎉 rocket 🚀 token",
    "cjk": "認証情報のトークン 凭证 자격 증명",
    "rtl": "بيانات الاعتماد",
    "escapes": 'quote " backslash \\ newline \n tab \t slash / nul \u0000 ls \u2028 end',
    "ключ 🔑": "unicode key value",
}


def canonical(value: Any) -> str:
    """JSON text that tells 1 from 1.0 from true (Python's == does not)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def test_metadata_round_trips_exactly(api: Api, make_org: Callable[..., Org]) -> None:
    # Given metadata with nesting, lists, null, booleans, floats, big integers and unicode
    org = make_org(with_key=False)
    body = {
        "provider": "custom",
        "dsn": "postgresql://user:p%40ss@db.example.com:5432/crm?sslmode=require",
        "access_token": f"round-trip-token-{uuid.uuid4()}",
        "metadata": RICH_METADATA,
    }

    # When it is stored
    response = api.post(f"{BASE}/", org.bearer, json=body)
    assert response.status_code == 201, response.text

    # Then every read returns equal JSON (types included)
    created = json.loads(response.text)
    assert canonical(created["metadata"]) == canonical(RICH_METADATA)
    for path in (f"{BASE}/provider/custom", f"{BASE}/{created['id']}"):
        read = api.get(path, org.bearer)
        assert read.status_code == 200, read.text
        assert canonical(json.loads(read.text)["metadata"]) == canonical(RICH_METADATA), path
        assert json.loads(read.text)["dsn"] == body["dsn"]
    (listed,) = json.loads(api.get(BASE, org.bearer).text)
    assert canonical(listed["metadata"]) == canonical(RICH_METADATA)

    # And an update of another field leaves the metadata byte-for-byte equal
    update = api.put(f"{BASE}/{created['id']}", org.bearer, json={"access_token": "rotated-round-trip-1"})
    assert update.status_code == 200, update.text
    assert canonical(json.loads(update.text)["metadata"]) == canonical(RICH_METADATA)

    # And a nested merge patch changes only what it names
    patch = {"metadata": {"nested": {"deeper": {"added": [2**70, 0.1]}}, "null_value": None, "tiny": 2e-7}}
    merged = api.put(f"{BASE}/{created['id']}", org.bearer, json=patch)
    assert merged.status_code == 200, merged.text
    expected = json.loads(json.dumps(RICH_METADATA))
    expected["nested"]["deeper"]["added"] = [2**70, 0.1]
    del expected["null_value"]
    expected["tiny"] = 2e-7
    read = json.loads(api.get(f"{BASE}/provider/custom", org.bearer).text)
    assert canonical(read["metadata"]) == canonical(expected)


def test_body_over_64_kib_is_413_and_nothing_is_written(api: Api, make_org: Callable[..., Org]) -> None:
    # Given a Salesforce body just over 64 KiB
    org = make_org()
    token = f"oversized-body-token-{uuid.uuid4()}"
    body = {**SEED_EXAMPLES["salesforce"], "access_token": token, "metadata": {"blob": "x" * MAX_BODY_BYTES}}
    assert len(json.dumps(body).encode()) > MAX_BODY_BYTES

    # When it is posted
    response = api.post(f"{BASE}/", org.key, json=body)

    # Then it is 413 with a detail (that does not echo the body)
    assert response.status_code == 413, response.text[:500]
    detail = response.json()["detail"]
    assert isinstance(detail, str) and detail
    assert token not in response.text

    # And nothing was written
    by_provider = api.get(f"{BASE}/provider/salesforce", org.key)
    assert (by_provider.status_code, by_provider.json()) == (
        404,
        {"detail": "Integration credentials for provider 'salesforce' not found"},
    )
    assert api.get(BASE, org.key).json() == []


def test_body_under_the_cap_is_accepted_and_oversized_update_changes_nothing(
    api: Api, make_org: Callable[..., Org]
) -> None:
    # Given credentials stored with a body just under 64 KiB
    org = make_org(with_key=False)
    body = {**SEED_EXAMPLES["hubspot"], "metadata": {"blob": "y" * (MAX_BODY_BYTES - 1024)}}
    assert len(json.dumps(body).encode()) < MAX_BODY_BYTES
    created = api.create(org.bearer, body)
    assert created["metadata"] == body["metadata"]

    # When an update over the cap is sent
    update = {
        "access_token": f"oversized-update-token-{uuid.uuid4()}",
        "metadata": {"z": "z" * MAX_BODY_BYTES},
    }
    response = api.put(f"{BASE}/{created['id']}", org.bearer, json=update)

    # Then it is 413 and the stored credentials are unchanged
    assert response.status_code == 413, response.text[:500]
    assert response.json()["detail"]
    assert api.get(f"{BASE}/{created['id']}", org.bearer).json() == created


@pytest.mark.parametrize(
    "content_type",
    ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"],
)
def test_non_json_content_type_is_a_clean_4xx_that_never_echoes_the_body(
    api: Api, make_org: Callable[..., Org], content_type: str
) -> None:
    # Given the seed's Salesforce body with a unique token, sent with a non-JSON Content-Type
    # (curl -d without -H "Content-Type: application/json" sends form-urlencoded)
    org = make_org(with_key=False)
    token = f"wrong-content-type-token-{uuid.uuid4()}"
    body = {**SEED_EXAMPLES["salesforce"], "access_token": token}
    api.ledger.add_body(body)

    # When it is posted
    response = api.post(f"{BASE}/", {**org.bearer, "Content-Type": content_type}, data=json.dumps(body))

    # Then the client gets a 400 or 415 with a detail, never its token echoed back
    assert response.status_code in {400, 415}, (response.status_code, response.text)
    assert isinstance(response.json().get("detail"), str)
    assert token not in response.text, response.text

    # And nothing was stored
    assert api.get(BASE, org.bearer).json() == []
