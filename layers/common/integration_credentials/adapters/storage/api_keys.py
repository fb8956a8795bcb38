"""API keys, in a table of their own keyed by the SHA-256 of the key (the key is never stored).

The functions may only `GetItem` this table; the admin CLI, with an operator's credentials,
writes it. A record is checked when written and again when read: its org must be a valid org id
and its scopes known ones, so a record forged by whoever can write the table (another item
shape, an org with `#`, an unknown scope) is refused as an invalid key, never trusted.
"""

import re
from collections.abc import Iterator
from functools import cache
from typing import TYPE_CHECKING, Any

from ...core.constants import ALL_SCOPES, ORG_ID_PATTERN
from ...core.errors import DependencyMisconfiguredError
from ...core.frozen import Frozen, set_field
from ...core.settings import get_settings
from ..aws import dynamodb_client
from .dynamodb import ConditionFailedError, Table, dynamodb_errors

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

_ORG_ID_RE = re.compile(ORG_ID_PATTERN)
_KEY_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_KEY_ID_RE = re.compile(r"^[0-9a-f]{16}$")


class InvalidKeyRecordError(Exception):
    """A stored key record that breaks the rules above: `reason` says which (never its values)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ApiKeyRecord(Frozen):
    """An active key's org, public id and scopes."""

    __slots__ = ("key_id", "org_id", "scopes")

    org_id: str
    key_id: str
    scopes: frozenset[str]

    def __init__(self, org_id: str, key_id: str, scopes: frozenset[str]) -> None:
        set_field(self, "org_id", org_id)
        set_field(self, "key_id", key_id)
        set_field(self, "scopes", scopes)


def check_record(org_id: object, key_id: object, scopes: object) -> ApiKeyRecord:
    """The record if every field is valid; `InvalidKeyRecordError` naming the first that is not."""
    if not isinstance(org_id, str) or not _ORG_ID_RE.fullmatch(org_id):
        raise InvalidKeyRecordError("org_id is not a valid org id")
    if not isinstance(key_id, str) or not _KEY_ID_RE.fullmatch(key_id):
        raise InvalidKeyRecordError("key_id is not a key id")
    if scopes is None:
        return ApiKeyRecord(org_id, key_id, ALL_SCOPES)
    if not isinstance(scopes, frozenset | set | list | tuple) or not scopes:
        raise InvalidKeyRecordError("scopes is not a list of scopes")
    named = frozenset(scopes)
    if not all(isinstance(scope, str) for scope in named) or not named <= ALL_SCOPES:
        raise InvalidKeyRecordError("scopes names an unknown scope")
    return ApiKeyRecord(org_id, key_id, named)


def _text(item: dict[str, Any], name: str) -> object:
    value = item.get(name)
    return value.get("S") if isinstance(value, dict) else None


def _record_of(item: dict[str, Any]) -> ApiKeyRecord:
    scopes = item.get("scopes")
    listed: object = None
    if scopes is not None:
        listed = scopes.get("SS") if isinstance(scopes, dict) else scopes
    return check_record(_text(item, "org_id"), _text(item, "key_id"), listed)


class ApiKeyRepository(Table):
    """API keys by the SHA-256 of the key."""

    def find(self, key_hash: str) -> ApiKeyRecord | None:
        """The record of an active key; None for an unknown or revoked key;
        `InvalidKeyRecordError` for a record that breaks the rules."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key={"key_hash": {"S": key_hash}}, ConsistentRead=True
            )
        item: Any = response.get("Item")
        if not item:
            return None
        if "revoked_at" in item:
            return None
        return _record_of(item)

    def add(
        self, key_hash: str, key_id: str, org_id: str, created_at: str, scopes: frozenset[str] = ALL_SCOPES
    ) -> None:
        """Store a new key's hash (conditional: a hash is never overwritten); `ValueError` for an
        org, id or scope the rules refuse."""
        if not _KEY_HASH_RE.fullmatch(key_hash):
            raise ValueError("key_hash is not a SHA-256")
        try:
            check_record(org_id, key_id, scopes)
        except InvalidKeyRecordError as error:
            raise ValueError(error.reason) from None
        item: dict[str, AttributeValueTypeDef] = {
            "key_hash": {"S": key_hash},
            "key_id": {"S": key_id},
            "org_id": {"S": org_id},
            "created_at": {"S": created_at},
            "scopes": {"SS": sorted(scopes)},
        }
        try:
            with dynamodb_errors():
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="attribute_not_exists(key_hash)",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailedError as failed:
            # A retry of this put after its answer was lost meets the item it stored (its key id
            # is random: no other put stores the same).
            old = dict(failed.item or {})
            if (old.get("key_id"), old.get("org_id")) != (item["key_id"], item["org_id"]):
                raise

    def scan(self) -> Iterator[dict[str, str]]:
        """Every key record as plain strings, scopes space-separated (admin CLI only: a scan)."""
        request: dict[str, Any] = {"TableName": self._table}
        while True:
            with dynamodb_errors():
                response = self._client.scan(**request)
            for item in response.get("Items", []):
                row = {name: str(value.get("S", "")) for name, value in item.items() if "S" in value}
                row["scopes"] = " ".join(sorted(item.get("scopes", {}).get("SS", ALL_SCOPES)))
                yield row
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
                    Key={"key_hash": {"S": key_hash}},
                    UpdateExpression="SET revoked_at = :now",
                    ConditionExpression="attribute_exists(key_hash) AND attribute_not_exists(revoked_at)",
                    ExpressionAttributeValues={":now": {"S": revoked_at}},
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
        except ConditionFailedError as failed:
            # A retry of this revocation after its answer was lost meets its own revoked_at.
            return bool(failed.item) and dict(failed.item or {}).get("revoked_at") == {"S": revoked_at}
        return True


@cache
def api_key_repository() -> ApiKeyRepository:
    """The process's API key repository."""
    table_name = get_settings().api_keys_table_name
    if not table_name:
        raise DependencyMisconfiguredError("DynamoDB", "ApiKeysTableNotConfigured")
    return ApiKeyRepository(table_name, dynamodb_client())
