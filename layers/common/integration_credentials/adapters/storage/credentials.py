"""Credentials rows and their id mirrors: one DynamoDB call per create, get by provider or list,
two per get by id (the mirror, a pointer, then the row; the row alone for an id this instance has
seen). Create and delete are conditional
transactions over the row, its mirror and the org's count; every other write is one conditional
UpdateItem of the row (the mirror holds only its key, so nothing else changes). Failed conditions
become domain errors here.

Longer than 300 lines: each write's condition and the domain error its failure means (missing,
moved, its own lost answer) read best beside the write itself, for every kind of write.
"""

import threading
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from ...core.errors import (
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsNotFoundError,
    TooManyCredentialsError,
)
from ...core.models import StoredCredentials
from ...core.settings import get_settings
from ..aws import dynamodb_client
from ..observability import report_integrity_failure
from .dynamodb import (
    ConditionFailedError,
    Table,
    TransactionCancelledError,
    dynamodb_errors,
    resending,
    transact,
)
from .items import (
    MIRROR_ATTRIBUTES,
    holds,
    mirror_attributes,
    mirror_pointer,
    row_attributes,
    row_from_item,
    update_expression,
)
from .keys import credentials_key, id_mirror_key, org_count_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


# How many ids a warm instance remembers the row key of (an entry is two short strings).
KNOWN_KEYS = 10_000


class CredentialsRepository(Table):
    """Credentials rows: one DynamoDB call per create/get/list, every write conditional.

    An id names one row key, (org, provider), for its whole life (ids are never reused), so the
    key a mirror gave is remembered: a by-id read of an id this instance has seen reads the row
    alone (strongly consistent, checked to still hold that id: a deleted credential is not found,
    as its mirror would be gone)."""

    def __init__(self, table_name: str, client: "DynamoDBClient") -> None:
        super().__init__(table_name, client)
        self._keys: dict[str, tuple[str, str]] = {}
        self._keys_lock = threading.Lock()

    def clear_caches(self) -> None:
        """Forget the row keys of the ids seen (as a cold start)."""
        with self._keys_lock:
            self._keys.clear()

    def _remember(self, credentials_id: str, org_id: str, provider: str) -> None:
        with self._keys_lock:
            if credentials_id not in self._keys and len(self._keys) >= KNOWN_KEYS:
                del self._keys[next(iter(self._keys))]  # the oldest
            self._keys[credentials_id] = (org_id, provider)

    def create(self, row: StoredCredentials, *, limit: int) -> None:
        """Insert a row and its id mirror, and count it: `CredentialsAlreadyExistError` if the
        provider is taken, `TooManyCredentialsError` if the org already holds `limit`."""
        new = "attribute_not_exists(org_id)"
        items: list[TransactWriteItemTypeDef] = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**credentials_key(row.org_id, row.provider), **row_attributes(row)[0]},
                    "ConditionExpression": new,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {**id_mirror_key(row.id), **mirror_attributes(row)},
                    "ConditionExpression": new,
                }
            },
        ]
        items.append(
            {
                "Update": {
                    "TableName": self._table,
                    "Key": org_count_key(row.org_id),
                    "UpdateExpression": "ADD credentials_count :one",
                    "ConditionExpression": (
                        "attribute_not_exists(credentials_count) OR credentials_count < :limit"
                    ),
                    "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": str(limit)}},
                }
            }
        )

        def on_condition_failed(codes: list[str]) -> Exception:
            if codes and codes[0] == "ConditionalCheckFailed":
                return CredentialsAlreadyExistError(row.provider)
            if len(codes) > 2 and codes[2] == "ConditionalCheckFailed":
                return TooManyCredentialsError(limit)
            return ConcurrentModificationError("credentials id collision")

        self._transact(items, on_condition_failed)
        self._remember(row.id, row.org_id, row.provider)

    def get_by_provider(self, org_id: str, provider: str) -> StoredCredentials | None:
        """The org's row for a provider, read strongly consistent (a read after a PUT sees it)."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=credentials_key(org_id, provider), ConsistentRead=True
            )
        item = response.get("Item")
        return row_from_item(item) if item else None

    def get_by_id(self, credentials_id: str) -> StoredCredentials | None:
        """A row by id, whatever org owns it (the caller checks ownership): its mirror names the
        row's key, then the row is read. Both reads strongly consistent; None when either is gone,
        or the row now holds another credential (deleted and created again between the reads).
        An id seen before costs the row's read alone."""
        known = self._keys.get(credentials_id)
        if known is not None:
            row = self.get_by_provider(*known)
            return row if row is not None and row.id == credentials_id else None
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table,
                Key=id_mirror_key(credentials_id),
                ConsistentRead=True,
                ProjectionExpression=", ".join(f"#m{i}" for i in range(len(MIRROR_ATTRIBUTES))),
                ExpressionAttributeNames={f"#m{i}": name for i, name in enumerate(MIRROR_ATTRIBUTES)},
            )
        mirror = response.get("Item")
        if not mirror:
            return None
        pointer = mirror_pointer(mirror)
        if pointer is None or pointer[0] != credentials_id:
            # Only this service writes mirrors, each naming its own id: something else wrote this.
            report_integrity_failure("a row read by id names another id", credentials_id)
            return None
        row = self.get_by_provider(pointer[1], pointer[2])
        if row is None or row.id != credentials_id:
            return None
        self._remember(credentials_id, pointer[1], pointer[2])
        return row

    def list_for_org(
        self, org_id: str, *, limit: int | None = None, after_provider: str | None = None
    ) -> tuple[list[StoredCredentials], str | None]:
        """An org's rows ordered by provider, and the provider to continue after (None: no more).

        Without `limit`, every row (one Query per 1 MB page). With it, one Query for `limit + 1`
        rows, so the next page is announced only when it exists."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": org_id}},
            "ConsistentRead": True,
        }
        if after_provider is not None:
            request["ExclusiveStartKey"] = credentials_key(org_id, after_provider)
        if limit is not None:
            request["Limit"] = limit + 1
        rows: list[StoredCredentials] = []
        while True:
            with dynamodb_errors():
                response = self._client.query(**request)
            rows.extend(row_from_item(item) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if limit is not None and len(rows) > limit:
                return rows[:limit], rows[limit - 1].provider
            if not last_key:
                return rows, None
            request["ExclusiveStartKey"] = last_key
            if limit is not None:
                request["Limit"] = limit + 1 - len(rows)

    def replace(
        self,
        previous: StoredCredentials,
        row: StoredCredentials,
        *,
        lease_owner: str | None = None,
        release_lease: bool = False,
    ) -> None:
        """Write a new version of a row if nobody changed it since `previous` (and, with
        `lease_owner`, while that owner holds or nobody holds the refresh lease): one conditional
        UpdateItem (the id mirror holds only the row's key, so it does not change).

        Only the attributes a row carries are written, so a lease taken meanwhile survives a
        user's update. `release_lease` drops the lease in the same write.
        Raises `ConcurrentModificationError` when the version (or the lease) moved,
        `CredentialsNotFoundError` when the row was deleted meanwhile.
        """
        condition = "#id = :id AND #version = :version"
        values: dict[str, AttributeValueTypeDef] = {
            ":id": {"S": previous.id},
            ":version": {"N": str(previous.version)},
        }
        if lease_owner is not None:
            condition += " AND (attribute_not_exists(lease_owner) OR lease_owner = :owner)"
            values[":owner"] = {"S": lease_owner}
        written, removed = row_attributes(row)
        if release_lease:
            removed += ["lease_owner", "lease_until"]
        request = {
            "TableName": self._table,
            "Key": credentials_key(row.org_id, row.provider),
            **update_expression(written, removed, condition, values),
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }

        def write() -> None:
            with dynamodb_errors():
                self._client.update_item(**request)

        try:
            resending(write)
        except ConditionFailedError as failed:
            old = failed.item
            if not old:
                raise CredentialsNotFoundError(credentials_id=row.id) from None
            if holds(old, written):
                return  # a retry or resend met this very write, whose answer was lost
            raise ConcurrentModificationError(f"credentials {row.id} changed during the update") from None

    def delete(self, row: StoredCredentials, *, check_version: bool = False) -> None:
        """Delete a row and its mirror if it is still the one read (and, with `check_version`,
        still at its version): `CredentialsNotFoundError` if it is gone, else
        `ConcurrentModificationError`."""
        condition = "id = :id AND version = :version" if check_version else "id = :id"
        values: dict[str, AttributeValueTypeDef] = {":id": {"S": row.id}}
        if check_version:
            values[":version"] = {"N": str(row.version)}
        items: list[TransactWriteItemTypeDef] = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": credentials_key(row.org_id, row.provider),
                    "ConditionExpression": condition,
                    "ExpressionAttributeValues": values,
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": id_mirror_key(row.id),
                    "ConditionExpression": "attribute_exists(org_id)",
                }
            },
            {
                # Atomic, in the transaction that deletes the row: the count cannot drift.
                "Update": {
                    "TableName": self._table,
                    "Key": org_count_key(row.org_id),
                    "UpdateExpression": (
                        "SET credentials_count = if_not_exists(credentials_count, :one) - :one"
                    ),
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
        ]
        self._transact(
            items,
            lambda codes: ConcurrentModificationError(f"credentials {row.id} changed before the delete"),
            missing=lambda: CredentialsNotFoundError(credentials_id=row.id),
        )

    def _transact(
        self,
        items: "list[TransactWriteItemTypeDef]",
        on_condition_failed: Callable[[list[str]], Exception],
        missing: Callable[[], Exception] | None = None,
    ) -> None:
        """Run a write transaction; a failed condition becomes the domain error it means."""
        try:
            transact(self._client, items)
        except TransactionCancelledError as cancelled:
            if missing is not None and cancelled.first_old_item_missing:
                raise missing() from None
            raise on_condition_failed(cancelled.codes) from None


@cache
def credentials_repository() -> CredentialsRepository:
    """The process's credentials repository."""
    return CredentialsRepository(get_settings().table_name, dynamodb_client())
