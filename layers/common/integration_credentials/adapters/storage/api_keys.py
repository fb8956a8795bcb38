"""API keys by the SHA-256 of the key (the key itself is never stored), in the credentials table
under ("APIKEY#<sha256>", "APIKEY")."""

from collections.abc import Iterator
from functools import cache
from typing import Any

from ...core.constants import API_KEY_PREFIX
from ...core.settings import get_settings
from ..aws import dynamodb_client
from .dynamodb import ConditionFailedError, Table, dynamodb_errors
from .keys import api_key_key


class ApiKeyRepository(Table):
    """API keys by the SHA-256 of the key; the key itself is never stored."""

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
def api_key_repository() -> ApiKeyRepository:
    """The process's API key repository."""
    return ApiKeyRepository(get_settings().table_name, dynamodb_client())
