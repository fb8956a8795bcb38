"""DynamoDB access: credentials rows, their id mirrors, and API keys, in one table.

Layout (partition `org_id`, sort `provider`):
- credentials:  (<org_id>, <provider>)       id, version, created_at, updated_at, ciphertext
- id mirror:    ("ID#<id>", "ID")            the same attributes plus owner_org_id, owner_provider
- API key:      ("APIKEY#<sha256>", "APIKEY") key_id, key_org_id, created_at, revoked_at

A credential and its mirror are written together in one transaction, so by-id routes read the
mirror with one strongly consistent GetItem (no eventually consistent index on the happy path).
"""

import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar

import botocore.exceptions

from .aws import dynamodb_client
from .constants import API_KEY_PREFIX, API_KEY_SORT_KEY, ID_MIRROR_PREFIX, ID_MIRROR_SORT_KEY
from .errors import (
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsNotFoundError,
    DependencyUnavailableError,
)
from .models import StoredCredentials
from .settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = Mapping[str, "AttributeValueTypeDef"]
T = TypeVar("T")
_TRANSACTION_ATTEMPTS = 4


def credentials_key(org_id: str, provider: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of a credentials row."""
    return {"org_id": {"S": org_id}, "provider": {"S": provider}}


def id_mirror_key(credentials_id: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of the id mirror of a credentials row."""
    return {"org_id": {"S": ID_MIRROR_PREFIX + credentials_id}, "provider": {"S": ID_MIRROR_SORT_KEY}}


def api_key_key(key_hash: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of an API key row (by the SHA-256 of the key)."""
    return {"org_id": {"S": API_KEY_PREFIX + key_hash}, "provider": {"S": API_KEY_SORT_KEY}}


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    """Turn DynamoDB outages, throttling and denials into `DependencyUnavailableError`."""
    try:
        yield
    except botocore.exceptions.ClientError as error:
        raise DependencyUnavailableError(
            "DynamoDB", str(error.response.get("Error", {}).get("Code"))
        ) from error
    except botocore.exceptions.BotoCoreError as error:
        raise DependencyUnavailableError("DynamoDB", type(error).__name__) from error


def _data_attributes(row: StoredCredentials) -> dict[str, "AttributeValueTypeDef"]:
    return {
        "id": {"S": row.id},
        "version": {"N": str(row.version)},
        "created_at": {"S": row.created_at},
        "updated_at": {"S": row.updated_at},
        "ciphertext": {"B": row.ciphertext},
    }


def _row_from_item(item: Item) -> StoredCredentials:
    owner_org = item.get("owner_org_id")
    owner_provider = item.get("owner_provider")
    return StoredCredentials(
        id=str(item["id"]["S"]),
        org_id=str((owner_org or item["org_id"])["S"]),
        provider=str((owner_provider or item["provider"])["S"]),
        version=int(item["version"]["N"]),
        created_at=str(item["created_at"]["S"]),
        updated_at=str(item["updated_at"]["S"]),
        ciphertext=bytes(item["ciphertext"]["B"]),
    )


def _cancellation_codes(error: botocore.exceptions.ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


class CredentialsRepository:
    """Credentials rows: one DynamoDB call per create/get/list, every write conditional."""

    def __init__(self, table_name: str, client: "DynamoDBClient") -> None:
        self._table = table_name
        self._client = client

    def create(self, row: StoredCredentials) -> None:
        """Insert a row and its id mirror; `CredentialsAlreadyExistError` if the provider is taken."""
        items = self._row_and_mirror_puts(row, "attribute_not_exists(org_id)")

        def on_condition_failed(codes: list[str]) -> Exception:
            if codes and codes[0] == "ConditionalCheckFailed":
                return CredentialsAlreadyExistError(row.provider)
            return ConcurrentModificationError("credentials id collision")

        self._transact(items, on_condition_failed)

    def get_by_provider(self, org_id: str, provider: str) -> StoredCredentials | None:
        """The org's row for a provider, read strongly consistent (a read after a PUT sees it)."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=credentials_key(org_id, provider), ConsistentRead=True
            )
        item = response.get("Item")
        return _row_from_item(item) if item else None

    def get_by_id(self, credentials_id: str) -> StoredCredentials | None:
        """A row by id from its mirror, whatever org owns it (the caller checks ownership)."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=id_mirror_key(credentials_id), ConsistentRead=True
            )
        item = response.get("Item")
        return _row_from_item(item) if item else None

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
            rows.extend(_row_from_item(item) for item in response.get("Items", []))
            last_key = response.get("LastEvaluatedKey")
            if limit is not None and len(rows) > limit:
                return rows[:limit], rows[limit - 1].provider
            if not last_key:
                return rows, None
            request["ExclusiveStartKey"] = last_key
            if limit is not None:
                request["Limit"] = limit + 1 - len(rows)

    def replace(self, previous: StoredCredentials, row: StoredCredentials) -> None:
        """Write a new version of a row and its mirror if nobody changed it since `previous`.

        Raises `ConcurrentModificationError` when the version moved, `CredentialsNotFoundError`
        when the row was deleted meanwhile.
        """
        items = self._row_and_mirror_puts(
            row,
            "id = :id AND version = :version",
            {":id": {"S": previous.id}, ":version": {"N": str(previous.version)}},
        )

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
        ]
        self._transact(
            items,
            lambda codes: ConcurrentModificationError(f"credentials {row.id} changed before the delete"),
            missing=lambda: CredentialsNotFoundError(credentials_id=row.id),
        )

    def _row_and_mirror_puts(
        self,
        row: StoredCredentials,
        condition: str,
        values: "dict[str, AttributeValueTypeDef] | None" = None,
    ) -> "list[TransactWriteItemTypeDef]":
        """Puts of a row and its id mirror, both under `condition`. A failed condition on the
        row returns the old row, so a missing row (404) is told from a moved version (409)."""
        data = _data_attributes(row)
        mirror = {
            **id_mirror_key(row.id),
            **data,
            "owner_org_id": {"S": row.org_id},
            "owner_provider": {"S": row.provider},
        }
        puts: list[TransactWriteItemTypeDef] = []
        for item in ({**credentials_key(row.org_id, row.provider), **data}, mirror):
            put: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
            if values:
                put["ExpressionAttributeValues"] = values
            puts.append({"Put": put})  # type: ignore[typeddict-item]
        puts[0]["Put"]["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        return puts

    def _transact(
        self,
        items: "list[TransactWriteItemTypeDef]",
        on_condition_failed: Callable[[list[str]], Exception],
        missing: Callable[[], Exception] | None = None,
    ) -> None:
        """Run a write transaction; retry only DynamoDB's own transaction conflicts."""
        for attempt in range(_TRANSACTION_ATTEMPTS):
            try:
                with _transaction_errors():
                    self._client.transact_write_items(TransactItems=items)
                return
            except _TransactionCancelledError as cancelled:
                codes = cancelled.codes
                if "ConditionalCheckFailed" in codes:
                    if missing is not None and cancelled.first_old_item_missing:
                        raise missing() from None
                    raise on_condition_failed(codes) from None
                if "TransactionConflict" not in codes or attempt == _TRANSACTION_ATTEMPTS - 1:
                    raise DependencyUnavailableError(
                        "DynamoDB", "TransactionCanceled:" + ",".join(codes)
                    ) from None
                time.sleep(random.uniform(0.01, 0.05) * (attempt + 1))  # noqa: S311 - jitter, not crypto


class _TransactionCancelledError(Exception):
    def __init__(self, codes: list[str], first_old_item_missing: bool) -> None:
        super().__init__(",".join(codes))
        self.codes = codes
        self.first_old_item_missing = first_old_item_missing


@contextmanager
def _transaction_errors() -> Iterator[None]:
    try:
        with dynamodb_errors():
            yield
    except DependencyUnavailableError as error:
        cause = error.__cause__
        if (
            isinstance(cause, botocore.exceptions.ClientError)
            and error.code == "TransactionCanceledException"
        ):
            reasons = cause.response.get("CancellationReasons", [])
            first = reasons[0] if reasons else {}
            old_item_missing = first.get("Code") == "ConditionalCheckFailed" and not first.get("Item")
            raise _TransactionCancelledError(_cancellation_codes(cause), old_item_missing) from None
        raise


class ApiKeyRepository:
    """API keys by the SHA-256 of the key; the key itself is never stored."""

    def __init__(self, table_name: str, client: "DynamoDBClient") -> None:
        self._table = table_name
        self._client = client

    def find_org(self, key_hash: str) -> tuple[str, str] | None:
        """(org_id, key_id) of an active key, or None for an unknown or revoked key."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key=api_key_key(key_hash), ConsistentRead=True
            )
        item = response.get("Item")
        if not item or "revoked_at" in item:
            return None
        return str(item["key_org_id"]["S"]), str(item["key_id"]["S"])

    def add(self, key_hash: str, key_id: str, org_id: str, created_at: str) -> None:
        """Store a new key's hash (conditional: a hash is never overwritten)."""
        with dynamodb_errors():
            self._client.put_item(
                TableName=self._table,
                Item={
                    **api_key_key(key_hash),
                    "key_id": {"S": key_id},
                    "key_org_id": {"S": org_id},
                    "created_at": {"S": created_at},
                },
                ConditionExpression="attribute_not_exists(org_id)",
            )

    def scan(self) -> Iterator[dict[str, str]]:
        """Every API key row as plain strings (admin CLI only: a full scan)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "FilterExpression": "begins_with(org_id, :prefix)",
            "ExpressionAttributeValues": {":prefix": {"S": API_KEY_PREFIX}},
        }
        while True:
            with dynamodb_errors():
                response = self._client.scan(**request)
            for item in response.get("Items", []):
                yield {name: str(value.get("S", "")) for name, value in item.items()}
            last_key = response.get("LastEvaluatedKey")
            if not last_key:
                return
            request["ExclusiveStartKey"] = last_key

    def revoke(self, key_hash: str, revoked_at: str) -> bool:
        """Mark a key revoked; False if it does not exist or was already revoked."""
        try:
            with dynamodb_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=api_key_key(key_hash),
                    UpdateExpression="SET revoked_at = :now",
                    ConditionExpression="attribute_exists(org_id) AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeValues={":now": {"S": revoked_at}},
                )
        except DependencyUnavailableError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True


@cache
def credentials_repository() -> CredentialsRepository:
    """The process's credentials repository."""
    return CredentialsRepository(get_settings().table_name, dynamodb_client())


@cache
def api_key_repository() -> ApiKeyRepository:
    """The process's API key repository."""
    return ApiKeyRepository(get_settings().table_name, dynamodb_client())
