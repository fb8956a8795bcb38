"""DynamoDB access: credentials rows, their id mirrors, and API keys, in one table.

Layout (partition `org_id`, sort `provider`):
- credentials:  (<org_id>, <provider>)       id, version, created_at, updated_at, ciphertext
- id mirror:    ("ID#<id>", "ID")            the same attributes plus owner_org_id, owner_provider
- API key:      ("APIKEY#<sha256>", "APIKEY") key_id, key_org_id, created_at, revoked_at
- org count:    ("ORGCOUNT#<org_id>", "COUNT") credentials_count (MAX_CREDENTIALS_PER_ORG)

A credential and its mirror are written together in one transaction, so by-id routes read the
mirror with one strongly consistent GetItem (no eventually consistent index on the happy path).

Token refresh adds plaintext bookkeeping to both (status, expires_at, last_refreshed_at,
last_error_*, refresh_failures), and to the credentials row only: the refresh lease
(lease_owner, lease_until in epoch ms) and, while the scheduler should refresh it, `refresh_shard`
and `refresh_due` (epoch seconds) — the keys of the sparse `refresh-due` index. Updates are
UpdateItem actions that name the attributes they change, so a user's PUT never drops a lease.
"""

import contextlib
import hashlib
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cache
from typing import TYPE_CHECKING, Any, Final, TypeVar, cast

import botocore.exceptions

from .aws import aws_error_code, dependency_error_of, dynamodb_client
from .constants import (
    API_KEY_PREFIX,
    API_KEY_SORT_KEY,
    ID_MIRROR_PREFIX,
    ID_MIRROR_SORT_KEY,
    ORG_COUNT_PREFIX,
    ORG_COUNT_SORT_KEY,
    REFRESH_INDEX_NAME,
    REFRESH_SHARDS,
)
from .errors import (
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsNotFoundError,
    DependencyUnavailableError,
    TooManyCredentialsError,
)
from .models import Lease, RefreshState, StoredCredentials
from .settings import get_settings

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

Item = Mapping[str, "AttributeValueTypeDef"]
T = TypeVar("T")


def credentials_key(org_id: str, provider: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of a credentials row."""
    return {"org_id": {"S": org_id}, "provider": {"S": provider}}


def id_mirror_key(credentials_id: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of the id mirror of a credentials row."""
    return {"org_id": {"S": ID_MIRROR_PREFIX + credentials_id}, "provider": {"S": ID_MIRROR_SORT_KEY}}


def org_count_key(org_id: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of the item that counts an org's credentials."""
    return {"org_id": {"S": ORG_COUNT_PREFIX + org_id}, "provider": {"S": ORG_COUNT_SORT_KEY}}


def api_key_key(key_hash: str) -> dict[str, "AttributeValueTypeDef"]:
    """Key of an API key row (by the SHA-256 of the key)."""
    return {"org_id": {"S": API_KEY_PREFIX + key_hash}, "provider": {"S": API_KEY_SORT_KEY}}


class ConditionFailedError(Exception):
    """A single-item write's `ConditionExpression` was false: an expected outcome, never an
    outage. `item` is the item as it was (ReturnValuesOnConditionCheckFailure), if asked for."""

    def __init__(self, item: Mapping[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class TransactionCancelledError(Exception):
    """A transaction was cancelled: one reason code per item (`ConditionalCheckFailed`,
    `TransactionConflict`, `None`...), and whether the first item's condition failed on an
    item that does not exist."""

    def __init__(self, codes: list[str], first_old_item_missing: bool) -> None:
        super().__init__(",".join(codes))
        self.codes = codes
        self.first_old_item_missing = first_old_item_missing


@contextmanager
def dynamodb_errors() -> Iterator[None]:
    """Expected outcomes as their own types (`ConditionFailedError`, `TransactionCancelledError`);
    every other DynamoDB failure as a `DependencyError` (unavailable or misconfigured)."""
    try:
        yield
    except botocore.exceptions.ClientError as error:
        code = aws_error_code(error)
        if code == "ConditionalCheckFailedException":
            raise ConditionFailedError(cast("Mapping[str, Any] | None", error.response.get("Item"))) from None
        if code == "TransactionCanceledException":
            reasons = error.response.get("CancellationReasons", [])
            first = reasons[0] if reasons else {}
            old_item_missing = first.get("Code") == "ConditionalCheckFailed" and not first.get("Item")
            raise TransactionCancelledError(_cancellation_codes(error), old_item_missing) from None
        raise dependency_error_of("DynamoDB", error) from error
    except botocore.exceptions.BotoCoreError as error:
        raise dependency_error_of("DynamoDB", error) from error


# DynamoDB cancels a write that meets another transaction on the same item (a single-item write
# gets TransactionConflictException, a transaction a `TransactionConflict` reason); botocore does
# not retry either. Bounded, full-jitter backoff; then the request fails with a 503.
CONFLICT_ATTEMPTS: Final = 5
_CONFLICT_BACKOFF_BASE_SECONDS: Final = 0.02
_CONFLICT_BACKOFF_CAP_SECONDS: Final = 0.25


def conflict_backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1, 2, ...) of a write that met a transaction."""
    step = min(_CONFLICT_BACKOFF_CAP_SECONDS, _CONFLICT_BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return random.uniform(step / 2, step)  # noqa: S311 - jitter, not crypto


def retry_conflicts(call: Callable[[], T]) -> T:
    """Run a single-item write, retrying it while it meets a transaction on its item."""
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return call()
        except DependencyUnavailableError as error:
            if error.code != "TransactionConflictException" or attempt == CONFLICT_ATTEMPTS:
                raise
        time.sleep(conflict_backoff(attempt))
    raise AssertionError("unreachable")


def refresh_shard(credentials_id: str) -> str:
    """The `refresh-due` index partition of a credential: its id spread over REFRESH_SHARDS."""
    return str(int(hashlib.sha256(credentials_id.encode()).hexdigest()[:8], 16) % REFRESH_SHARDS)


def _attributes(
    row: StoredCredentials, *, mirror: bool
) -> tuple[dict[str, "AttributeValueTypeDef"], list[str]]:
    """(attributes to set, attributes to remove) of a row or of its mirror; keys excluded."""
    state = row.state
    values: dict[str, AttributeValueTypeDef] = {
        "id": {"S": row.id},
        "version": {"N": str(row.version)},
        "created_at": {"S": row.created_at},
        "updated_at": {"S": row.updated_at},
        "ciphertext": {"B": row.ciphertext},
        "status": {"S": state.status},
        "refresh_failures": {"N": str(state.failures)},
    }
    removed: list[str] = []
    optional: dict[str, str | None] = {
        "expires_at": state.expires_at,
        "last_refreshed_at": state.last_refreshed_at,
        "last_error_code": state.last_error_code,
        "last_error_message": state.last_error_message,
    }
    for name, value in optional.items():
        if value is None:
            removed.append(name)
        else:
            values[name] = {"S": value}
    if mirror:
        values["owner_org_id"] = {"S": row.org_id}
        values["owner_provider"] = {"S": row.provider}
    elif state.refresh_due is not None:
        values["refresh_shard"] = {"S": refresh_shard(row.id)}
        values["refresh_due"] = {"N": str(state.refresh_due)}
    else:
        removed += ["refresh_shard", "refresh_due"]
    return values, removed


def _update_expression(
    values: Mapping[str, "AttributeValueTypeDef"],
    removed: list[str],
    condition: str,
    condition_values: Mapping[str, "AttributeValueTypeDef"],
) -> dict[str, Any]:
    """UpdateExpression, ConditionExpression and their placeholders (every name is a
    placeholder: `status` is a DynamoDB reserved word)."""
    names = {"#id": "id", "#version": "version"}
    expression_values = dict(condition_values)
    assignments: list[str] = []
    for index, (name, value) in enumerate(values.items()):
        names[f"#s{index}"] = name
        expression_values[f":s{index}"] = value
        assignments.append(f"#s{index} = :s{index}")
    expression = "SET " + ", ".join(assignments)
    if removed:
        for index, name in enumerate(removed):
            names[f"#r{index}"] = name
        expression += " REMOVE " + ", ".join(f"#r{index}" for index in range(len(removed)))
    return {
        "UpdateExpression": expression,
        "ConditionExpression": condition,
        "ExpressionAttributeNames": names,
        "ExpressionAttributeValues": expression_values,
    }


def _row_from_item(item: Item) -> StoredCredentials:
    owner_org = item.get("owner_org_id")
    owner_provider = item.get("owner_provider")

    def text(name: str) -> str | None:
        value = item.get(name)
        return str(value["S"]) if value and "S" in value else None

    def number(name: str) -> int | None:
        value = item.get(name)
        return int(value["N"]) if value and "N" in value else None

    status = text("status") or "active"
    lease_owner, lease_until = text("lease_owner"), number("lease_until")
    return StoredCredentials(
        id=str(item["id"]["S"]),
        org_id=str((owner_org or item["org_id"])["S"]),
        provider=str((owner_provider or item["provider"])["S"]),
        version=int(item["version"]["N"]),
        created_at=str(item["created_at"]["S"]),
        updated_at=str(item["updated_at"]["S"]),
        ciphertext=bytes(item["ciphertext"]["B"]),
        state=RefreshState(
            status=status if status in ("active", "refresh_failed", "reauth_required") else "active",  # type: ignore[arg-type]
            expires_at=text("expires_at"),
            last_refreshed_at=text("last_refreshed_at"),
            last_error_code=text("last_error_code"),
            last_error_message=text("last_error_message"),
            refresh_due=number("refresh_due"),
            failures=number("refresh_failures") or 0,
        ),
        lease=Lease(lease_owner, lease_until) if lease_owner and lease_until is not None else None,
    )


def _cancellation_codes(error: botocore.exceptions.ClientError) -> list[str]:
    reasons = error.response.get("CancellationReasons", [])
    return [str(reason.get("Code", "None")) for reason in reasons]


class CredentialsRepository:
    """Credentials rows: one DynamoDB call per create/get/list, every write conditional."""

    def __init__(self, table_name: str, client: "DynamoDBClient") -> None:
        self._table = table_name
        self._client = client

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
        row_set, row_removed = _attributes(row, mirror=False)
        if release_lease:
            row_removed += ["lease_owner", "lease_until"]
        mirror_set, mirror_removed = _attributes(row, mirror=True)
        items: list[TransactWriteItemTypeDef] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": credentials_key(row.org_id, row.provider),
                    **_update_expression(row_set, row_removed, row_condition, row_values),  # type: ignore[typeddict-item]
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": id_mirror_key(row.id),
                    **_update_expression(mirror_set, mirror_removed, condition, values),  # type: ignore[typeddict-item]
                }
            },
        ]

        def on_condition_failed(codes: list[str]) -> Exception:
            return ConcurrentModificationError(f"credentials {row.id} changed during the update")

        self._transact(
            items, on_condition_failed, missing=lambda: CredentialsNotFoundError(credentials_id=row.id)
        )

    def acquire_lease(
        self,
        org_id: str,
        provider: str,
        credentials_id: str,
        owner: str,
        *,
        now_ms: int,
        lease_ms: int,
        due_by: int | None = None,
    ) -> StoredCredentials | None:
        """Take the refresh lease of a credential if it is free or expired, and
        return the row as it is now (the re-read that follows taking a lease, in the same call).

        With `due_by` (epoch seconds), only while the row is scheduled at or before it (the
        scheduler's duplicates stop here). None when the lease is held, or the row is not due;
        `CredentialsNotFoundError` when the row is gone (or was replaced by another id).
        """
        condition = "#id = :id AND (attribute_not_exists(lease_until) OR lease_until < :now)"
        values: dict[str, AttributeValueTypeDef] = {
            ":id": {"S": credentials_id},
            ":now": {"N": str(now_ms)},
            ":owner": {"S": owner},
            ":until": {"N": str(now_ms + lease_ms)},
        }
        if due_by is not None:
            condition += " AND refresh_due <= :due"
            values[":due"] = {"N": str(due_by)}

        def take() -> Any:
            with dynamodb_errors():
                return self._client.update_item(
                    TableName=self._table,
                    Key=credentials_key(org_id, provider),
                    UpdateExpression="SET lease_owner = :owner, lease_until = :until",
                    ConditionExpression=condition,
                    ExpressionAttributeNames={"#id": "id"},
                    ExpressionAttributeValues=values,
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )

        try:
            response = retry_conflicts(take)
        except ConditionFailedError as failed:
            old: Any = failed.item
            if not isinstance(old, dict) or old.get("id", {}).get("S") != credentials_id:
                raise CredentialsNotFoundError(credentials_id=credentials_id) from None
            return None
        return _row_from_item(response["Attributes"])

    def release_lease(self, org_id: str, provider: str, owner: str) -> None:
        """Give the lease back if `owner` still holds it (a lost lease is not an error)."""

        def release() -> None:
            with dynamodb_errors():
                self._client.update_item(
                    TableName=self._table,
                    Key=credentials_key(org_id, provider),
                    UpdateExpression="REMOVE lease_owner, lease_until",
                    ConditionExpression="lease_owner = :owner",
                    ExpressionAttributeValues={":owner": {"S": owner}},
                )

        with contextlib.suppress(ConditionFailedError):
            retry_conflicts(release)

    def due_for_refresh(
        self, shard: str, due_by: int, limit: int, after: Mapping[str, Any] | None = None
    ) -> tuple[list[tuple[str, str, str]], Mapping[str, Any] | None, int]:
        """One page of the sparse `refresh-due` index: (org_id, provider, id) of the rows in
        `shard` due at or before `due_by`, oldest first; the key to continue from; items read."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": REFRESH_INDEX_NAME,
            "KeyConditionExpression": "refresh_shard = :shard AND refresh_due <= :due",
            "ExpressionAttributeValues": {":shard": {"S": shard}, ":due": {"N": str(due_by)}},
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = after
        with dynamodb_errors():
            response = self._client.query(**request)
        found = [
            (str(item["org_id"]["S"]), str(item["provider"]["S"]), str(item["id"]["S"]))
            for item in response.get("Items", [])
        ]
        return found, response.get("LastEvaluatedKey"), int(response.get("ScannedCount", len(found)))

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
        self,
        row: StoredCredentials,
        condition: str,
        values: "dict[str, AttributeValueTypeDef] | None" = None,
    ) -> "list[TransactWriteItemTypeDef]":
        """Puts of a row and its id mirror, both under `condition`. A failed condition on the
        row returns the old row, so a missing row (404) is told from a moved version (409)."""
        row_item = {**credentials_key(row.org_id, row.provider), **_attributes(row, mirror=False)[0]}
        mirror = {**id_mirror_key(row.id), **_attributes(row, mirror=True)[0]}
        puts: list[TransactWriteItemTypeDef] = []
        for item in (row_item, mirror):
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
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                with dynamodb_errors():
                    self._client.transact_write_items(TransactItems=items)
                return
            except TransactionCancelledError as cancelled:
                codes = cancelled.codes
                if "ConditionalCheckFailed" in codes:
                    if missing is not None and cancelled.first_old_item_missing:
                        raise missing() from None
                    raise on_condition_failed(codes) from None
                if "TransactionConflict" not in codes or attempt == CONFLICT_ATTEMPTS:
                    raise DependencyUnavailableError(
                        "DynamoDB", "TransactionCanceled:" + ",".join(codes)
                    ) from None
            time.sleep(conflict_backoff(attempt))


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
        except ConditionFailedError:
            return False
        return True


@cache
def credentials_repository() -> CredentialsRepository:
    """The process's credentials repository."""
    return CredentialsRepository(get_settings().table_name, dynamodb_client())


@cache
def api_key_repository() -> ApiKeyRepository:
    """The process's API key repository."""
    return ApiKeyRepository(get_settings().table_name, dynamodb_client())
