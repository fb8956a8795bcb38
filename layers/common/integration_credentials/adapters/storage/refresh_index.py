"""The sparse `refresh-due` index: credentials rows that carry `refresh_shard` + `refresh_due`,
read shard by shard, oldest first, without touching a row that is not due."""

from collections.abc import Mapping
from functools import cache
from typing import Any

from ...core.constants import REFRESH_INDEX_NAME
from ...core.settings import get_settings
from ..aws import dynamodb_client
from .dynamodb import Table, dynamodb_errors


class RefreshIndex(Table):
    """Queries of the `refresh-due` index."""

    def due(
        self, shard: str, due_by: int, limit: int, after: Mapping[str, Any] | None = None
    ) -> tuple[list[tuple[str, str, str]], Mapping[str, Any] | None, int]:
        """One page of the index: (org_id, provider, id) of the rows in `shard` due at or before
        `due_by`, oldest first; the key to continue from; items read."""
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


@cache
def refresh_index() -> RefreshIndex:
    """The process's view of the refresh index."""
    return RefreshIndex(get_settings().table_name, dynamodb_client())
