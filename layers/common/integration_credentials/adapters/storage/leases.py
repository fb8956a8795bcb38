"""The refresh lease of a credential: `lease_owner` and `lease_until` (epoch ms) on its row.

Taking the lease is one conditional UpdateItem that also returns the row as it is now (the
re-read that follows taking a lease, in the same call). A holder that dies leaves a lease that
expires; the tokens it would write are released with them (`CredentialsRepository.replace`).
"""

import contextlib
from functools import cache
from typing import TYPE_CHECKING, Any

from ...core.errors import CredentialsNotFoundError, DependencyError
from ...core.models import StoredCredentials
from ...core.settings import get_settings
from ..aws import dynamodb_client
from ..observability import logger
from .dynamodb import ConditionFailedError, Table, dynamodb_errors, retry_conflicts
from .items import row_from_item
from .keys import credentials_key

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


class RefreshLeases(Table):
    """Takes and gives back the refresh leases of credentials rows."""

    def acquire(
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
        """Take the refresh lease of a credential if it is free or expired, and return the row
        as it is now.

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
            if old.get("lease_owner", {}).get("S") == owner and old.get("lease_until") == values[":until"]:
                # botocore retried a take whose answer was lost: the lease is this owner's already.
                return row_from_item(old)
            return None
        return row_from_item(response["Attributes"])

    def release(self, org_id: str, provider: str, owner: str) -> None:
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

    def let_go(self, row: StoredCredentials, owner: str) -> None:
        """`release`, for a holder whose outcome is already decided: when DynamoDB fails, the
        lease is left to expire by itself (logged), not raised."""
        try:
            self.release(row.org_id, row.provider, owner)
        except DependencyError:
            logger.warning("lease not released", extra={"credentials_id": row.id})


@cache
def refresh_leases() -> RefreshLeases:
    """The process's lease store."""
    return RefreshLeases(get_settings().table_name, dynamodb_client())
