"""Finding sent values in stored bytes: every form a stored copy could take, inside every attribute."""

import base64
import json
from collections.abc import Iterator, Mapping
from typing import Any


def base64_fragments(raw: bytes) -> set[bytes]:
    """What base64 of any byte string holding `raw` must contain, at each of the 3 alignments
    (standard and URL-safe alphabets): the characters that only `raw`'s bits decide."""
    fragments = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
        fragment = encoded[start:end]
        fragments |= {fragment, fragment.replace(b"+", b"-").replace(b"/", b"_")}
    return {fragment for fragment in fragments if fragment}


def encoded_forms(value: str) -> set[bytes]:
    """The byte forms a stored copy of a value could take: UTF-8, JSON-escaped (ASCII or not),
    and base64 of any of those."""
    plain = {
        value.encode(),
        json.dumps(value)[1:-1].encode(),
        json.dumps(value, ensure_ascii=False)[1:-1].encode(),
    }
    forms = set(plain)
    for raw in plain:
        forms |= base64_fragments(raw)
    return {form for form in forms if form}


def attribute_bytes(value: Any) -> Iterator[bytes]:
    """Every scalar inside a DynamoDB attribute value, as bytes (binary attributes as they are)."""
    for kind, inner in value.items():
        if kind in {"S", "N"}:
            yield str(inner).encode()
        elif kind == "B":
            yield bytes(inner)
        elif kind in {"SS", "NS"}:
            yield from (str(item).encode() for item in inner)
        elif kind == "BS":
            yield from (bytes(item) for item in inner)
        elif kind == "L":
            for item in inner:
                yield from attribute_bytes(item)
        elif kind == "M":
            for item in inner.values():
                yield from attribute_bytes(item)


def labelled_strings(value: Any, label: str) -> Iterator[tuple[str, str]]:
    """(label, string) for every string inside a JSON value, labelled by its path."""
    if isinstance(value, str):
        yield label, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from labelled_strings(item, f"{label}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from labelled_strings(item, f"{label}[{index}]")


def scan_items(dynamodb: Any, table_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.extend(page["Items"])
    return items
