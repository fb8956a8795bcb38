"""Two costs of moto 5.2's DynamoDB that grow with the table, not with the request, made to grow
with the request; what each call answers is unchanged (tests/tools/test_moto_speedups.py compares
every answer with unpatched moto's).

- **Query.** `Table.query` starts from `all_items()`, which lists and *sorts* every item of the
  table, and then keeps the few the key condition names and sorts those again. On a table of the
  shared test stack (thousands of rows) every list request and every scheduler visit of a shard
  sorted the whole table. In a query, `all_items()` here gives the one partition a table query
  names (`Table.items[hash]`), and for an index query every item unsorted: the query's own sort
  of what it kept (by the index key, then the table key, which is unique) makes the order. Scans
  and everything else still get the sorted list.
- **Transactions.** `transact_write_items` backs each table it touches up with a deepcopy of the
  whole table, restored if the transaction is cancelled. The backup here copies the table's
  partitions one level deep (a dict per partition) and deep-copies only the items the
  transaction names, the only ones it can change (moto updates an item in place); a restored
  backup is the same table.
"""

import copy
import inspect
import threading
from collections import defaultdict
from typing import Any

_QUERY_FLAG = "_credentials_fast_query"
_TRANSACT_FLAG = "_credentials_backs_up_items"


class _InQuery(threading.local):
    """The partition (or index) of the query this thread is running, if any."""

    table: Any = None
    hash_key: Any = None
    index_name: str | None = None
    # An index query's partition: (attribute, type, value) of its string or binary hash keys.
    index_keys: tuple[tuple[str, str, Any], ...] | None = None


_in_query = _InQuery()


def install() -> None:
    """Patch moto's DynamoDB models once per process (idempotent)."""
    import moto.dynamodb.models
    from moto.dynamodb.models.table import Table

    _fast_query(Table)
    _backup_named_items(moto.dynamodb.models)


def _fast_query(table_class: Any) -> None:
    original_query = table_class.query
    if getattr(original_query, _QUERY_FLAG, False):
        return
    original_all_items = table_class.all_items
    signature = inspect.signature(original_query)

    def query(self: Any, *args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(self, *args, **kwargs)
        _in_query.table = self
        _in_query.hash_key = bound.arguments.get("hash_key")
        _in_query.index_name = bound.arguments.get("index_name")
        _in_query.index_keys = _string_keys(bound.arguments.get("hash_key_conditions"))
        try:
            return original_query(self, *args, **kwargs)
        finally:
            _in_query.table = None

    def all_items(self: Any) -> list[Any]:
        if _in_query.table is not self:
            return list(original_all_items(self))
        if _in_query.index_name:
            items = _items(self.items.values(), ranged=bool(self.range_key_attr))
            keys = _in_query.index_keys
            if keys is None:
                return list(items)
            return [
                item
                for item in items
                if all(_is(item.attrs.get(name), kind, value) for name, kind, value in keys)
            ]
        bucket = self.items.get(_in_query.hash_key)
        if bucket is None:
            return []
        return list(bucket.values()) if self.range_key_attr else [bucket]

    setattr(query, _QUERY_FLAG, True)
    query.__wrapped__ = original_query  # type: ignore[attr-defined]
    all_items.__wrapped__ = original_all_items  # type: ignore[attr-defined]
    table_class.query = query
    table_class.all_items = all_items


def _string_keys(conditions: Any) -> tuple[tuple[str, str, Any], ...] | None:
    """The index query's hash key conditions when each is a string or binary value (equal exactly
    when moto's DynamoType says so), else None: the query then filters every item itself."""
    if not conditions:
        return None
    keys = tuple((str(name), value.type, value.value) for name, value in conditions)
    return keys if all(kind in ("S", "B") for _name, kind, _value in keys) else None


def _is(attribute: Any, kind: str, value: Any) -> bool:
    return attribute is not None and attribute.type == kind and attribute.value == value


def _items(buckets: Any, *, ranged: bool) -> Any:
    for bucket in buckets:
        if ranged:
            yield from bucket.values()
        else:
            yield bucket


def _backup_named_items(models: Any) -> None:
    backend_class = models.DynamoDBBackend
    original = backend_class.transact_write_items
    if getattr(original, _TRANSACT_FLAG, False):
        return
    real_copy = models.copy

    class _Backup:
        """Stands in for `copy` in moto's models module: a Table's deepcopy is the backup of the
        running transaction (one per table per call); anything else is copied as before."""

        def __init__(self) -> None:
            self.named: dict[str, list[dict[str, Any]]] | None = None
            self.memo: dict[int, Any] = {}

        def deepcopy(self, value: Any) -> Any:
            if self.named is None or type(value).__name__ != "Table":
                return real_copy.deepcopy(value)
            if id(value) not in self.memo:
                self.memo[id(value)] = _table_backup(value, self.named.get(value.name, []))
            return self.memo[id(value)]

        def __getattr__(self, name: str) -> Any:
            return getattr(real_copy, name)

    shim = _Backup()

    def transact_write_items(backend: Any, transact_items: Any) -> Any:
        named: dict[str, list[dict[str, Any]]] = {}
        for operation in transact_items:
            for body in operation.values():
                if isinstance(body, dict):
                    key = body.get("Key") if "Key" in body else body.get("Item")
                    if isinstance(key, dict):
                        named.setdefault(str(body.get("TableName")), []).append(key)
        # Requests reach the backend one at a time (EmbeddedAws._app), so one backup state will do.
        shim.named, shim.memo = named, {}
        try:
            return original(backend, transact_items)
        finally:
            shim.named, shim.memo = None, {}

    setattr(transact_write_items, _TRANSACT_FLAG, True)
    transact_write_items.__wrapped__ = original  # type: ignore[attr-defined]
    models.copy = shim
    backend_class.transact_write_items = transact_write_items


def _table_backup(table: Any, keys: list[dict[str, Any]]) -> Any:
    """A copy of `table` whose partitions are new dicts and whose items named by `keys` are deep
    copies: what the transaction leaves of the others is what they were. A key that cannot be
    read (moto refuses the request later) gives the whole deepcopy, as moto made."""
    from moto.dynamodb.models.dynamo_type import DynamoType

    ranged = bool(table.range_key_attr)
    backup = copy.copy(table)
    backup.items = defaultdict(dict)
    for hash_value, bucket in table.items.items():
        backup.items[hash_value] = dict(bucket) if ranged else bucket
    try:
        for key in keys:
            hash_value = DynamoType(key[table.hash_key_attr])
            bucket = table.items.get(hash_value)
            if bucket is None:
                continue
            if not ranged:
                backup.items[hash_value] = copy.deepcopy(bucket)
                continue
            range_value = DynamoType(key[table.range_key_attr])
            if range_value in bucket:
                backup.items[hash_value][range_value] = copy.deepcopy(bucket[range_value])
    except (KeyError, TypeError, AttributeError):
        return copy.deepcopy(table)
    return backup
