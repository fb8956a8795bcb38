"""Credentials rows as DynamoDB items and back, their id mirrors (pointers), and the UpdateItem
expressions that write them.

A row created with an Idempotency-Key carries that request's HMAC (`idempotency_hmac`, never
removed). Token refresh adds plaintext bookkeeping to a row (status, expires_at,
last_refreshed_at, last_error_*, refresh_failures), connection health the CRM account (account_id,
account_name, account_user) and verified_at; the refresh lease (lease_owner, lease_until in epoch
ms) and, while the scheduler should refresh or verify it, `refresh_shard` and `refresh_due`
(epoch seconds). Updates name the attributes they change, so a user's PUT never drops a lease.

An id mirror holds only the key of its row (`id`, `owner_org_id`, `owner_provider`): written on
create, deleted on delete, never touched in between. Mirrors written before that copied the whole
row; only those three attributes of them are ever read.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from ...core.models import Account, Lease, RefreshState, StoredCredentials
from .keys import Item, refresh_shard

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef


# What a by-id read takes from a mirror (old full mirrors carry more: never read).
MIRROR_ATTRIBUTES: Final = ("id", "owner_org_id", "owner_provider")


def row_attributes(row: StoredCredentials) -> tuple[dict[str, "AttributeValueTypeDef"], list[str]]:
    """(attributes to set, attributes to remove) of a row; keys excluded."""
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
        "account_id": row.account.id if row.account else None,
        "account_name": row.account.name if row.account else None,
        "account_user": row.account.user if row.account else None,
        "verified_at": row.verified_at,
    }
    for name, value in optional.items():
        if value is None:
            removed.append(name)
        else:
            values[name] = {"S": value}
    if row.idempotency_hmac is not None:
        values["idempotency_hmac"] = {"S": row.idempotency_hmac}
    if state.refresh_due is not None:
        values["refresh_shard"] = {"S": refresh_shard(row.id)}
        values["refresh_due"] = {"N": str(state.refresh_due)}
    else:
        removed += ["refresh_shard", "refresh_due"]
    return values, removed


def update_expression(
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


def mirror_attributes(row: StoredCredentials) -> dict[str, "AttributeValueTypeDef"]:
    """The id mirror of a row (keys excluded): the id and the key of the row it points to."""
    return {"id": {"S": row.id}, "owner_org_id": {"S": row.org_id}, "owner_provider": {"S": row.provider}}


def mirror_pointer(item: Item) -> tuple[str, str, str] | None:
    """(id, org_id, provider) an id mirror names; None for an item that is no mirror."""
    try:
        return str(item["id"]["S"]), str(item["owner_org_id"]["S"]), str(item["owner_provider"]["S"])
    except (KeyError, TypeError):
        return None


def holds(item: Item, values: Mapping[str, "AttributeValueTypeDef"]) -> bool:
    """Whether `item` carries every one of `values` (a conditional write whose answer was lost,
    met again by its own condition, finds the row as it wrote it)."""
    return all(item.get(name) == value for name, value in values.items())


def row_from_item(item: Item) -> StoredCredentials:
    """A credentials row as the domain's `StoredCredentials`. An owner it names (as only an id
    mirror does) is taken over its key: a row naming another owner fails the callers' ownership
    checks instead of passing for the partition's."""
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
    account_id = text("account_id")
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
        idempotency_hmac=text("idempotency_hmac"),
        account=Account(account_id, text("account_name"), text("account_user")) if account_id else None,
        verified_at=text("verified_at"),
    )
