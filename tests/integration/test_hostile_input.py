"""Hostile JSON, generated: every body gets exactly one of two answers, a 4xx with a `detail` that
writes nothing, or a 2xx whose stored value reads back exactly as sent; the org's list always
stays strict JSON.

Schemathesis only generates what the OpenAPI document describes; these strategies generate what
Python's json accepts and JSON does not (NaN, Infinity, 1e400), integers past Python's 4,300-digit
limit, nesting far beyond the recursion limit, lone surrogates in keys and values, duplicate keys,
and timestamps in every form clients store. The oracle below decides, independently of the
service's code, which answer each body must get.
"""

import hashlib
import json
import math
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from integration_credentials.policy.merge_patch import merge_patch

from tests.integration.conftest import mint_key

MAX_DEPTH = 32  # docs/api.md: metadata nests at most 32 levels (metadata itself is level 1)
MAX_KEYS = 1000  # docs/api.md: at most 1,000 keys in all
MAX_DIGITS = 4300  # docs/api.md: integers of up to 4,300 digits round-trip exactly
BODY_LIMIT = 65_536

EXAMPLES = settings(
    # Derandomized: the same examples every run, beside the explicit hostile classics (@example).
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)


@dataclass(frozen=True)
class Raw:
    """A JSON text written as is (what no Python value serialises to): NaN, 1e400, 5000 digits,
    3000 brackets, an object with a duplicate key."""

    text: str
    acceptable: bool
    value: Any = None  # what it reads back as, when acceptable
    depth: int = 0  # levels of nesting of its own (a bare scalar: 0)


def to_json(value: Any) -> str:
    """JSON text of a generated value; strings are ASCII-escaped, so lone surrogates travel as
    `\\ud800` escapes, as a hostile client sends them."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{to_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(to_json(v) for v in value) + "]"
    if isinstance(value, float):
        return (
            "NaN"
            if math.isnan(value)
            else ("Infinity" if value > 0 else "-Infinity")
            if math.isinf(value)
            else repr(value)
        )
    return json.dumps(value)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def acceptable(value: Any, depth: int = 1) -> tuple[bool, int]:
    """(whether the service must store `value` as metadata, how many keys it holds)."""
    if isinstance(value, Raw):
        return value.acceptable and depth + value.depth - 1 <= MAX_DEPTH, 0
    if isinstance(value, dict | list):
        if depth > MAX_DEPTH:
            return False, 0
        keys = 0
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for key, item in items:
            if isinstance(key, str):
                keys += 1
                if not _encodable(key):
                    return False, keys
            ok, inner = acceptable(item, depth + 1)
            keys += inner
            if not ok:
                return False, keys
        return True, keys
    if isinstance(value, float):
        return math.isfinite(value), 0
    if isinstance(value, str):
        return _encodable(value), 0
    return True, 0


def expected_value(value: Any) -> Any:
    """What an acceptable value reads back as."""
    if isinstance(value, Raw):
        return value.value
    if isinstance(value, dict):
        return {k: expected_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expected_value(v) for v in value]
    return value


def strict_loads(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


# ---- strategies ------------------------------------------------------------------------------

lone_surrogates = st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff"])
texts = st.one_of(
    st.text(max_size=20),
    st.builds(lambda a, s, b: a + s + b, st.text(max_size=5), lone_surrogates, st.text(max_size=5)),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
integers = st.one_of(st.integers(), st.integers(min_value=-(10**40), max_value=10**40))


def _digits(n: int, sign: str = "") -> Raw:
    text = sign + "9" * n
    return Raw(text, n <= MAX_DIGITS, int(text) if n <= MAX_DIGITS else None)


def _brackets(n: int) -> Raw:
    return Raw("[" * n + "]" * n, True, _nested(n), depth=n)


def _nested(n: int) -> Any:
    if n > MAX_DEPTH:
        return None  # never read back: refused wherever it sits
    value: Any = []
    for _ in range(n - 1):
        value = [value]
    return value


raw_literals = st.one_of(
    st.sampled_from(
        [
            Raw("NaN", False),
            Raw("Infinity", False),
            Raw("-Infinity", False),
            Raw("1e400", False),
            Raw("-1e400", False),
            Raw("1e-400", False),  # underflows to 0.0: not what was sent
            Raw("1e308", True, 1e308),
            Raw("-0.0", True, -0.0),
            Raw('{"a": 1, "a": 2}', False),
            Raw('{"\\ud800": 1}', False),
        ]
    ),
    st.integers(min_value=1, max_value=6000).map(_digits),
    st.integers(min_value=4290, max_value=4310).map(lambda n: _digits(n, "-")),
    # Nesting past the metadata bound and past Python's recursion limit.
    st.integers(min_value=MAX_DEPTH - 4, max_value=4000).map(_brackets),
)


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), integers, floats, texts, raw_literals),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)),
    max_leaves=12,
)
metadata_values = st.dictionaries(texts, json_values, max_size=5)
odd_timestamps = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20),
    st.sampled_from([1733000000, 1733000000000, 1733000000000000, 0, -1, 1e300, 2**63]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-12-01T20:00:00Z",
            "2026-12-01T20:00:00+05:30",
            "2026-12-01T20:00:00",
            "2026-13-45T99:99:99Z",
            "1733000000",
            "1733000000000",
            "tomorrow",
            "",
        ]
    ),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    texts,
)


# ---- helpers ---------------------------------------------------------------------------------


@contextmanager
def fresh_org(stack) -> Iterator[tuple[str, dict[str, str]]]:
    """An org and its API key for one example, removed afterwards with all it holds: the shared
    table stays small (moto copies every table on each transaction, so its cost grows with them)."""
    org_id = f"org-{uuid.uuid4()}"
    key = mint_key(stack, org_id)
    try:
        yield org_id, {"X-API-Key": key}
    finally:
        table = stack.resources.table_name
        stack.dynamodb.delete_item(
            TableName=stack.resources.api_keys_table_name,
            Key={"key_hash": {"S": hashlib.sha256(key.encode()).hexdigest()}},
        )
        keys = [{"org_id": {"S": f"ORGCOUNT#{org_id}"}, "provider": {"S": "COUNT"}}]
        for item in org_rows(stack, org_id):
            keys.append({"org_id": item["org_id"], "provider": item["provider"]})
            keys.append({"org_id": {"S": "ID#" + item["id"]["S"]}, "provider": {"S": "ID"}})
        for item_key in keys:
            stack.dynamodb.delete_item(TableName=table, Key=item_key)


def org_rows(stack, org_id: str) -> list[dict[str, Any]]:
    """The org's credentials rows (a query: a scan would grow with every example of the session).
    A row and its id mirror are written in one transaction, so no row means no mirror either."""
    return stack.dynamodb.query(
        TableName=stack.resources.table_name,
        KeyConditionExpression="org_id = :org",
        ExpressionAttributeValues={":org": {"S": org_id}},
        ConsistentRead=True,
    )["Items"]


def assert_refused(reply, status: int = 400) -> None:
    assert reply.status == status, reply.raw[:300]
    body = strict_loads(reply.raw)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and body["detail"]


def assert_list_is_strict_json(api, headers) -> list[Any]:
    listed = api.list(headers)
    assert listed.status == 200, listed.raw[:300]
    return strict_loads(listed.raw)


def body_text(provider: str, metadata: Any) -> str:
    return (
        '{"provider": ' + json.dumps(provider) + ', "dsn": "https://x.example.com", '
        '"access_token": "tok", "metadata": ' + to_json(metadata) + "}"
    )


# ---- create, idempotent create, update -------------------------------------------------------


@EXAMPLES
@given(metadata=metadata_values, idempotent=st.booleans())
@example(metadata={"v": Raw("NaN", False)}, idempotent=False)
@example(metadata={"v": Raw("1e400", False)}, idempotent=False)
@example(metadata={"v": _digits(4301)}, idempotent=True)
@example(metadata={"v": _digits(4300)}, idempotent=False)
@example(metadata={"\ud800": 1}, idempotent=False)
@example(metadata={"v": "\udfff"}, idempotent=True)
@example(metadata={"v": _brackets(3000)}, idempotent=False)
@example(metadata={"v": _brackets(MAX_DEPTH - 1)}, idempotent=False)
@example(metadata={"v": _brackets(MAX_DEPTH)}, idempotent=False)
@example(metadata={f"k{i}": i for i in range(MAX_KEYS + 1)}, idempotent=False)
@example(metadata={f"k{i}": i for i in range(MAX_KEYS)}, idempotent=False)
def test_create_is_refused_whole_or_round_trips_exactly(api, stack, metadata, idempotent):
    with fresh_org(stack) as (org_id, headers):
        text = body_text("custom", metadata)
        ok, keys = acceptable(metadata)
        ok = ok and keys <= MAX_KEYS
        extra = {"Idempotency-Key": f"key-{uuid.uuid4()}"} if idempotent else None

        reply = api.call("create_credentials", headers=headers, raw_body=text, headers_extra=extra)

        if len(text.encode("utf-8", "surrogatepass")) > BODY_LIMIT:
            assert_refused(reply, 413)
            ok = False
        elif not ok:
            assert_refused(reply)
        if not ok:
            assert org_rows(stack, org_id) == []
            assert assert_list_is_strict_json(api, headers) == []
            return
        assert reply.status == 201, reply.raw[:300]
        created = strict_loads(reply.raw)
        assert created["metadata"] == expected_value(metadata)
        read = api.get(headers, created["id"])
        assert strict_loads(read.raw)["metadata"] == expected_value(metadata)
        assert [item["metadata"] for item in assert_list_is_strict_json(api, headers)] == [
            expected_value(metadata)
        ]
        if idempotent:
            again = api.call("create_credentials", headers=headers, raw_body=text, headers_extra=extra)
            assert (again.status, strict_loads(again.raw)) == (201, created)


@EXAMPLES
@given(patch=metadata_values, field=st.sampled_from(["metadata", "dsn", "access_token"]))
@example(patch={"v": Raw("-Infinity", False)}, field="metadata")
@example(patch={"v": _digits(5000)}, field="metadata")
@example(patch={"v": _brackets(2000)}, field="metadata")
@example(patch={"a\udc00": "x"}, field="metadata")
@example(patch={"v": "\ud800"}, field="dsn")
def test_update_is_refused_whole_or_round_trips_exactly(api, stack, patch, field):
    with fresh_org(stack) as (org_id, headers):
        original = {"keep": "me", "nested": {"a": 1}}
        created = api.create(
            headers,
            {
                "provider": "custom",
                "dsn": "https://x.example.com",
                "access_token": "tok",
                "metadata": original,
            },
        ).json
        before = org_rows(stack, org_id)
        if field == "metadata":
            text = '{"metadata": ' + to_json(patch) + "}"
            ok, keys = acceptable(patch)
            ok = ok and keys <= MAX_KEYS
        else:
            # A hostile string (from the patch's first value, or a key) as dsn / access_token.
            value = next(iter(patch.values()), "plain") if patch else "plain"
            value = value if isinstance(value, str) else next(iter(patch), "plain")
            text = "{" + json.dumps(field) + ": " + to_json(value) + "}"
            ok = bool(value.strip()) and _encodable(value)

        reply = api.call(
            "update_credentials",
            headers=headers,
            path_parameters={"credentials_id": created["id"]},
            raw_body=text,
        )

        if not ok:
            assert_refused(reply)
            assert org_rows(stack, org_id) == before
            assert assert_list_is_strict_json(api, headers) == [created]
            return
        assert reply.status == 200, reply.raw[:300]
        updated = strict_loads(reply.raw)
        if field == "metadata":
            assert updated["metadata"] == merge_patch(original, expected_value(patch))
        else:
            assert updated[field] == value
        assert assert_list_is_strict_json(api, headers) == [updated]


# ---- expires_at in every form ----------------------------------------------------------------


@EXAMPLES
@given(expires_at=odd_timestamps, provider=st.sampled_from(["custom", "salesforce", "pipedrive"]))
@example(expires_at=1733000000000, provider="custom")
@example(expires_at=1e300, provider="salesforce")
@example(expires_at="0001-01-01T00:00:00+01:00", provider="custom")
@example(expires_at="9999-12-31T23:59:59-01:00", provider="salesforce")
def test_any_stored_expires_at_is_kept_as_sent_and_never_crashes(api, stack, expires_at, provider):
    with fresh_org(stack) as (org_id, headers):
        metadata = {"expires_at": expires_at, "refresh_token": "rt-123"}
        ok, _ = acceptable(metadata)

        reply = api.call("create_credentials", headers=headers, raw_body=body_text(provider, metadata))

        if not ok:  # a lone surrogate in a generated string
            assert_refused(reply)
            return
        assert reply.status == 201, reply.raw[:300]
        created = strict_loads(reply.raw)
        assert created["metadata"]["expires_at"] == expires_at
        assert isinstance(created["expires_at"], str) and created["expires_at"].endswith("Z")
        # Never due before it was stored (a due time in the past would be refreshed at once, and again).
        (row,) = org_rows(stack, org_id)
        if "refresh_due" in row:
            created_at = datetime.strptime(created["created_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
            assert int(row["refresh_due"]["N"]) >= math.floor(created_at.timestamp())
        assert assert_list_is_strict_json(api, headers)[0]["metadata"]["expires_at"] == expires_at


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (1733000000, "2024-11-30T20:53:20.000000Z"),  # epoch seconds
        (1733000000000, "2024-11-30T20:53:20.000000Z"),  # epoch milliseconds, recognised as such
        ("1733000000000", "2024-11-30T20:53:20.000000Z"),
        ("2024-11-30T21:53:20+01:00", "2024-11-30T20:53:20.000000Z"),
    ],
)
def test_expires_at_in_seconds_milliseconds_or_iso_is_understood(api, stack, stored, expected):
    with fresh_org(stack) as (_, headers):
        body = {"provider": "custom", "dsn": "d", "access_token": "t", "metadata": {"expires_at": stored}}
        created = api.create(headers, body).json
        assert (created["expires_at"], created["metadata"]["expires_at"]) == (expected, stored)


@pytest.mark.parametrize("stored", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", 1e300, "soon"])
def test_an_expires_at_out_of_range_or_garbage_is_ignored_for_scheduling(api, stack, stored):
    with fresh_org(stack) as (_, headers):
        body = {"provider": "hubspot", "dsn": "d", "access_token": "t", "metadata": {"expires_at": stored}}
        created = api.create(headers, body).json
        # The usual lifetime (HubSpot: 30 min) applies; the value stays as the client sent it.
        assert created["metadata"]["expires_at"] == stored
        assert created["expires_at"] > created["created_at"]


def test_a_row_stored_before_the_rules_is_an_integrity_error_naming_it_not_broken_json(api, stack):
    from integration_credentials.adapters.crypto.cipher import ALGORITHM, credentials_cipher

    with fresh_org(stack) as (org_id, headers):
        # Given a row whose secret holds NaN (written before the input rules, or by hand)
        created = api.create(headers, {"provider": "custom", "dsn": "d", "access_token": "t"}).json
        cipher = credentials_cipher()
        context = {"org_id": org_id, "provider": "custom", "id": created["id"]}
        poisoned, _ = cipher._client.encrypt(
            source=b'{"dsn":"d","access_token":"t","metadata":{"v":NaN}}',
            materials_manager=cipher._materials,
            encryption_context=context,
            algorithm=ALGORITHM,
        )
        table = stack.resources.table_name
        for key in (
            {"org_id": {"S": org_id}, "provider": {"S": "custom"}},
            {"org_id": {"S": "ID#" + created["id"]}, "provider": {"S": "ID"}},
        ):
            stack.dynamodb.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET ciphertext = :c",
                ExpressionAttributeValues={":c": {"B": bytes(poisoned)}},
            )
        # When it is read, alone or in the list, Then the answer is strict JSON naming the row
        expected = {"detail": f"Stored credentials {created['id']} failed an integrity check"}
        for reply in (api.get(headers, created["id"]), api.list(headers)):
            assert (reply.status, strict_loads(reply.raw)) == (500, expected)
