"""Credentials rows and their id mirrors: one DynamoDB call per create, get or list; every write
a conditional transaction over the row and its mirror (and, on create and delete, the org's
count). Failed conditions become domain errors here."""

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
from .dynamodb import Table, TransactionCancelledError, dynamodb_errors, transact
from .items import row_attributes, row_from_item, update_expression
from .keys import credentials_key, id_mirror_key, org_count_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef


class CredentialsRepository(Table):
    """Credentials rows: one DynamoDB call per create/get/list, every write conditional."""

    def create(self, row: StoredCredentials, *, limit: int) -> None:
        """Insert a row and its id mirror, and count it: `CredentialsAlreadyExistError` if the
        provider is taken, `TooManyCredentialsError` if the org already holds `limit`."""
        items = self._row_and_mirror_puts(row, "attribute_not_exists(org_id)")
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

    def get_by_provider(self, org_id: str, provider: str) -> StoredCredentials | None:
        """The org's row for a provider, read strongly consistent (a read after a PUT sees it)."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=credentials_key(org_id, provider), ConsistentRead=True
            )
        item = response.get("Item")
        return row_from_item(item) if item else None

    def get_by_id(self, credentials_id: str) -> StoredCredentials | None:
        """A row by id from its mirror, whatever org owns it (the caller checks ownership)."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=id_mirror_key(credentials_id), ConsistentRead=True
            )
        item = response.get("Item")
        return row_from_item(item) if item else None

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
        """Write a new version of a row and its mirror if nobody changed it since `previous`
        (and, with `lease_owner`, while that owner holds or nobody holds the refresh lease).

        Only the attributes a row carries are written (UpdateItem), so a lease taken meanwhile
        survives a user's update. `release_lease` drops the lease in the same transaction.
        Raises `ConcurrentModificationError` when the version (or the lease) moved,
        `CredentialsNotFoundError` when the row was deleted meanwhile.
        """
        condition = "#id = :id AND #version = :version"
        values: dict[str, AttributeValueTypeDef] = {
            ":id": {"S": previous.id},
            ":version": {"N": str(previous.version)},
        }
        row_condition = condition
        row_values = dict(values)
        if lease_owner is not None:
            row_condition += " AND (attribute_not_exists(lease_owner) OR lease_owner = :owner)"
            row_values[":owner"] = {"S": lease_owner}
        row_set, row_removed = row_attributes(row, mirror=False)
        if release_lease:
            row_removed += ["lease_owner", "lease_until"]
        mirror_set, mirror_removed = row_attributes(row, mirror=True)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": credentials_key(row.org_id, row.provider),
                    **update_expression(row_set, row_removed, row_condition, row_values),  # type: ignore[typeddict-item]
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": id_mirror_key(row.id),
                    **update_expression(mirror_set, mirror_removed, condition, values),  # type: ignore[typeddict-item]
                }
            },
        ]

        def on_condition_failed(codes: list[str]) -> Exception:
            return ConcurrentModificationError(f"credentials {row.id} changed during the update")

        self._transact(
            items, on_condition_failed, missing=lambda: CredentialsNotFoundError(credentials_id=row.id)
        )

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

    def _row_and_mirror_puts(
        self, row: StoredCredentials, condition: str
    ) -> "list[TransactWriteItemTypeDef]":
        """Puts of a row and its id mirror, both under `condition`. A failed condition on the
        row returns the old row, so a missing row (404) is told from a moved version (409)."""
        row_item = {**credentials_key(row.org_id, row.provider), **row_attributes(row, mirror=False)[0]}
        mirror = {**id_mirror_key(row.id), **row_attributes(row, mirror=True)[0]}
        puts: list[TransactWriteItemTypeDef] = [
            {"Put": {"TableName": self._table, "Item": item, "ConditionExpression": condition}}
            for item in (row_item, mirror)
        ]
        puts[0]["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return puts

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
