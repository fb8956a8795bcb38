"""DynamoDB request units: an item's size by DynamoDB's sizing rules, the units a read or a write
of it bills, and what one refresh bills (the "DynamoDB per refresh" row and the cost table's
refreshes)."""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import prices

# The attributes the sparse refresh-due index holds of a row (its keys and projection).
INDEX_ATTRIBUTES = ("org_id", "provider", "id", "refresh_shard", "refresh_due")
# A refresh moves its row's entry in the refresh-due index: a delete and a put of an entry < 1 KB.
INDEX_MOVE_WRITES = 2
# What the refresh lease adds to a row while it is held: its owner (a uuid4) and end (epoch ms).
# A write bills the larger of the item before and after it, so the lease's take and the write
# that gives it back are priced at the row with it.
LEASE_ATTRIBUTES = {
    "lease_owner": {"S": "8f5e9a70-1c3b-4b8e-9c1d-1f2a3b4c5d6e"},
    "lease_until": {"N": "1796325746945"},
}
# DynamoDB per refresh at 7bf5d19, the last commit before the id mirror became a pointer, by
# `refresh_units` on the bench's worker phase run against that commit's layer: the lease's
# UpdateItem and a TransactWriteItems over the row and its whole-row mirror. A refreshed row is
# 1,090 B (1,156 B with its lease), its mirror was 1,142 B: 2 + 2 x (2 + 2) + 2 (index) = 12 WRU,
# and the index entry (158 B) read by the scheduler's query, eventually consistent.
BEFORE_REFRESH_WRITE_UNITS = 12.0
BEFORE_REFRESH_READ_UNITS = 158 / 4096 / 2


@dataclass
class StoredSizes:
    """The largest credentials row, id mirror and index entry the worker phase's refreshes left
    (bytes, DynamoDB's sizing rules; the row without its lease, which a refresh gives back)."""

    row: int
    mirror: int
    index_entry: int


def item_size(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's sizing rules: attribute names plus values (strings as UTF-8,
    binaries as bytes, numbers about one byte per two digits plus one, maps and lists 3 bytes
    plus one per element)."""

    def value_size(value: dict[str, Any]) -> int:
        (kind, data), *_ = value.items()
        if kind == "S":
            return len(str(data).encode())
        if kind == "B":
            return len(data)
        if kind == "N":
            digits = len(str(data).lstrip("-").replace(".", "").lstrip("0")) or 1
            return math.ceil(digits / 2) + 1
        if kind in {"BOOL", "NULL"}:
            return 1
        if kind == "M":
            return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in data.items())
        if kind == "L":
            return 3 + sum(value_size(v) + 1 for v in data)
        if kind in {"SS", "NS", "BS"}:
            return sum(value_size({kind[0]: element}) for element in data)
        raise ValueError(kind)

    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / 1024))


def read_units(size: int, *, consistent: bool = True) -> float:
    units = max(1, math.ceil(size / 4096))
    return units if consistent else units / 2


def refresh_units(calls: Mapping[tuple[str, str], float], stored: StoredSizes) -> tuple[float, float]:
    """(write units, read units) one refresh bills, from the AWS calls a measured worker batch
    made per refresh and the items it left: each UpdateItem (the lease's take, the tokens'
    write that gives it back) at the row with its lease, a transaction at twice each of its items
    (the row with its lease, the mirror), a GetItem strongly consistent; the index entry moved;
    the scheduler's query reading the entry, eventually consistent."""
    leased = stored.row + item_size(LEASE_ATTRIBUTES)
    writes = float(INDEX_MOVE_WRITES)
    reads = stored.index_entry / 4096 / 2
    for (service, operation), count in calls.items():
        if service != "dynamodb":
            continue
        if operation == "UpdateItem":
            writes += count * write_units(leased)
        elif operation == "TransactWriteItems":
            writes += count * 2 * (write_units(leased) + write_units(stored.mirror))
        elif operation == "GetItem":
            reads += count * read_units(leased)
    return writes, reads


def refresh_units_dollars(writes: float, reads: float) -> float:
    return writes * prices.DYNAMODB_WRITE_UNIT.dollars + reads * prices.DYNAMODB_READ_UNIT.dollars
