"""Assertions on replies that never show a value: failures name statuses, fields and `detail` texts."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from .errors import CheckFailedError
from .http import Reply
from .seed import SEED_FIELDS


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailedError(message)


def difference(actual: Any, expected: Any) -> str:
    """How two JSON values differ, by field names only."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        if isinstance(actual.get("detail"), str) and set(expected) == {"detail"}:
            return f"detail {actual['detail'][:200]!r}, expected {expected['detail']!r}"
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        differing = sorted(name for name in set(actual) & set(expected) if actual[name] != expected[name])
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("missing", missing), ("unexpected", extra), ("differ", differing))
            if names
        ]
        return "fields " + "; ".join(parts)
    if isinstance(actual, list) and isinstance(expected, list):
        return f"a list of {len(actual)} item(s), expected {len(expected)}" + (
            " (the same number, not the same items)" if len(actual) == len(expected) else ""
        )
    return f"a {type(actual).__name__}, expected a {type(expected).__name__}"


def expect_reply(reply: Reply, status: int, body: Any = None) -> Any:
    """The reply's JSON, when it has this status (and this exact body, when given)."""
    expect(
        reply.status == status, f"{reply.what}: expected {status}, got {reply.status}{reply.detail_note()}"
    )
    expect(
        reply.headers.get("Content-Type", "").startswith("application/json"),
        f"{reply.what}: Content-Type is not application/json",
    )
    payload = reply.json()
    if body is not None:
        expect(payload == body, f"{reply.what}: {difference(payload, body)}")
    return payload


def parse_timestamp(value: Any, what: str) -> datetime:
    expect(isinstance(value, str) and value.endswith("Z"), f"{what} is not a UTC timestamp ending in Z")
    try:
        return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")
    except ValueError:
        raise CheckFailedError(f"{what} is not ISO 8601") from None


def expect_credentials(
    reply: Reply, status: int, body: Mapping[str, Any], org_id: str | None
) -> dict[str, Any]:
    """A credentials object echoing what was sent (the seed's fields, exact values)."""
    payload: dict[str, Any] = expect_reply(reply, status)
    expect(isinstance(payload, dict), f"{reply.what}: not a credentials object")
    missing = [name for name in SEED_FIELDS if name not in payload]
    expect(not missing, f"{reply.what}: fields missing: {', '.join(missing)}")
    differing = [
        name for name in ("provider", "dsn", "access_token", "metadata") if payload[name] != body[name]
    ]
    expect(not differing, f"{reply.what}: not as sent: {', '.join(differing)}")
    try:
        expect(str(uuid.UUID(payload["id"])) == payload["id"], f"{reply.what}: id is not a canonical UUID")
    except (ValueError, TypeError, AttributeError):
        raise CheckFailedError(f"{reply.what}: id is not a UUID") from None
    if org_id is not None:
        expect(payload["org_id"] == org_id, f"{reply.what}: org_id is not the caller's org")
    parse_timestamp(payload["created_at"], f"{reply.what}: created_at")
    parse_timestamp(payload["updated_at"], f"{reply.what}: updated_at")
    return payload


def sorted_by_id(items: Any) -> list[Any]:
    expect(isinstance(items, list), "a list was expected")
    return sorted(items, key=lambda item: str(item.get("id")) if isinstance(item, dict) else "")


def expect_replies(replies: Sequence[Reply], status: int, bodies: Sequence[Any]) -> None:
    """Each reply has this status and its body; fails naming every one that does not."""
    problems = []
    for reply, body in zip(replies, bodies, strict=True):
        try:
            expect_reply(reply, status, body)
        except CheckFailedError as failure:
            problems.append(str(failure))
    expect(not problems, "; ".join(problems))


def expect_fields(actual: Any, expected: Mapping[str, Any], names: Sequence[str], what: str) -> None:
    expect(isinstance(actual, dict), f"{what}: not a credentials object")
    differing = [name for name in names if actual.get(name) != expected[name]]
    expect(not differing, f"{what}: not as expected: {', '.join(differing)}")
