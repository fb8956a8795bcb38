"""Single-use states of the OAuth connect flow, in a table of their own keyed by the SHA-256 of the
state (the state itself is never stored). Everything the callback trusts (return URL, PKCE
verifier, reconnect id, principal, end user, hints) is in the item's ciphertext, bound by its
encryption context to the org, the provider and the state's hash; the plaintext attributes are
the key, the context, the expiry (DynamoDB's TTL attribute, which deletes late: every read checks
it too) and the slot the state holds.

Slots bound how many states an org has live at once, exactly under concurrency: an org has N slot
items (`SLOT#<org_id>#<i>`, i < N, in the same table), each free when absent or expired (judged by
time against `expires_at`, never by TTL deletion). A state is stored in one transaction with the
claim of a free slot (a conditional put: of two requests claiming one slot, one wins); using the
state releases its slot (a conditional delete on the holder); an unused one frees it at expiry.
"""

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final

from ...core.errors import DependencyMisconfiguredError
from ...core.settings import get_settings
from ..aws import dynamodb_client
from .dynamodb import ConditionFailedError, Table, TransactionCancelledError, dynamodb_errors, transact

# The id in a state's encryption context: the key policy's context keys are a credential's
# (org_id, provider, id), and this id can never be a credential's (those are UUIDs).
CONTEXT_ID_PREFIX = "connect-state:"
# Slot items share the table's key attribute; a state's key is 64 hex digits, never this.
SLOT_PREFIX: Final = "SLOT#"
_BATCH_GET_ROUNDS: Final = 3


def slot_key(org_id: str, index: int) -> str:
    """The key of an org's slot `index` (the index last: `#` in an org id cannot make two equal)."""
    return f"{SLOT_PREFIX}{org_id}#{index}"


@dataclass(frozen=True, slots=True)
class Slots:
    """What one read of an org's slots found: the free ones (shuffled, so that concurrent
    requests try different ones first), and the earliest expiry among the taken ones."""

    free: tuple[str, ...]
    earliest_expiry: int | None


@dataclass(frozen=True, slots=True)
class ConnectStateItem:
    """One stored state: `key` is the state's hash, `expires_at` epoch seconds."""

    key: str
    org_id: str
    provider: str
    created_at: str
    expires_at: int
    ciphertext: bytes
    slot: str | None = None

    @property
    def encryption_context(self) -> dict[str, str]:
        """Binds the ciphertext to this org, provider and state."""
        return {"org_id": self.org_id, "provider": self.provider, "id": CONTEXT_ID_PREFIX + self.key}


def _item(state: ConnectStateItem) -> dict[str, Any]:
    item = {
        "state_hash": {"S": state.key},
        "org_id": {"S": state.org_id},
        "provider": {"S": state.provider},
        "created_at": {"S": state.created_at},
        "expires_at": {"N": str(state.expires_at)},
        "ciphertext": {"B": state.ciphertext},
    }
    if state.slot is not None:
        item["slot"] = {"S": state.slot}
    return item


def _state_of(item: dict[str, Any]) -> ConnectStateItem | None:
    try:
        return ConnectStateItem(
            key=str(item["state_hash"]["S"]),
            org_id=str(item["org_id"]["S"]),
            provider=str(item["provider"]["S"]),
            created_at=str(item["created_at"]["S"]),
            expires_at=int(item["expires_at"]["N"]),
            ciphertext=bytes(item["ciphertext"]["B"]),
            slot=str(item["slot"]["S"]) if "slot" in item else None,
        )
    except (KeyError, TypeError, ValueError):
        return None


class ConnectStates(Table):
    """Put a state once; read it while it is live; consume it once."""

    def slots(self, org_id: str, limit: int, *, now: int) -> Slots:
        """Read the org's `limit` slots (one strongly consistent batch read): which are free now."""
        keys = [slot_key(org_id, index) for index in range(limit)]
        found: dict[str, int] = {}
        request: dict[str, Any] = {
            self._table: {
                "Keys": [{"state_hash": {"S": key}} for key in keys],
                "ConsistentRead": True,
                "ProjectionExpression": "state_hash, expires_at",
            }
        }
        for _ in range(_BATCH_GET_ROUNDS):
            with dynamodb_errors():
                response = self._client.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self._table, []):
                found[str(item["state_hash"]["S"])] = int(item.get("expires_at", {}).get("N", "0"))
            request = dict(response.get("UnprocessedKeys") or {})
            if not request:
                break
        # Keys DynamoDB left unprocessed count as taken: never more states than slots.
        unread = {str(key["state_hash"]["S"]) for key in request.get(self._table, {}).get("Keys", [])}
        free = [key for key in keys if key not in unread and found.get(key, 0) <= now]
        random.shuffle(free)
        taken = [expiry for key, expiry in found.items() if expiry > now]
        return Slots(tuple(free), min(taken) if taken else None)

    def add(self, state: ConnectStateItem, free_slots: Sequence[str], *, now: int) -> bool:
        """Store a new state holding one of `free_slots`, tried in turn; False when every one
        was taken meanwhile (each claim is a transaction with the state's put, so a state is
        never stored without its slot, and a slot never held by two live states)."""
        for slot in free_slots:
            try:
                transact(self._client, self._claim(state, slot, now))
            except TransactionCancelledError as cancelled:
                if cancelled.codes[1:2] == ["ConditionalCheckFailed"]:
                    continue  # another request claimed this slot first
                raise
            return True
        return False

    def _claim(self, state: ConnectStateItem, slot: str, now: int) -> list[Any]:
        holder = _item(replace(state, slot=slot))
        return [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": holder,
                    # A hash collision, which 256 random bits make moot, is refused.
                    "ConditionExpression": "attribute_not_exists(state_hash)",
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        "state_hash": {"S": slot},
                        "org_id": {"S": state.org_id},
                        "holder": {"S": state.key},
                        "expires_at": {"N": str(state.expires_at)},
                    },
                    # Free: never claimed, or its state expired (by the clock, not by TTL).
                    "ConditionExpression": "attribute_not_exists(state_hash) OR #expires <= :now",
                    "ExpressionAttributeNames": {"#expires": "expires_at"},
                    "ExpressionAttributeValues": {":now": {"N": str(now)}},
                }
            },
        ]

    def release(self, state: ConnectStateItem) -> None:
        """Free the slot a used state held (unless it was claimed anew meanwhile)."""
        if state.slot is None:
            return
        try:
            with dynamodb_errors():
                self._client.delete_item(
                    TableName=self._table,
                    Key={"state_hash": {"S": state.slot}},
                    ConditionExpression="holder = :holder",
                    ExpressionAttributeValues={":holder": {"S": state.key}},
                )
        except ConditionFailedError:
            return

    def find(self, key: str, *, now: int) -> ConnectStateItem | None:
        """The live state under `key` (strongly consistent), None if unknown, expired or malformed."""
        with dynamodb_errors():
            response = self._client.get_item(
                TableName=self._table, Key={"state_hash": {"S": key}}, ConsistentRead=True
            )
        item = response.get("Item")
        state = _state_of(dict(item)) if item else None
        return state if state is not None and state.expires_at > now else None

    def consume(self, state: ConnectStateItem, *, now: int) -> bool:
        """Delete the state if it is still the one read and still live: True for exactly one
        caller, however many present the same state at once. A transaction of one item, so a
        retry after a lost answer is answered as the delete was, not as a state already used."""
        try:
            transact(
                self._client,
                [
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": {"state_hash": {"S": state.key}},
                            "ConditionExpression": "#expires > :now AND #ciphertext = :ciphertext",
                            "ExpressionAttributeNames": {
                                "#expires": "expires_at",
                                "#ciphertext": "ciphertext",
                            },
                            "ExpressionAttributeValues": {
                                ":now": {"N": str(now)},
                                ":ciphertext": {"B": state.ciphertext},
                            },
                        }
                    }
                ],
            )
        except TransactionCancelledError:
            return False
        return True


@cache
def connect_states() -> ConnectStates:
    """The process's connect states table (CONNECT_STATES_TABLE_NAME)."""
    table_name = get_settings().connect_states_table_name
    if not table_name:
        raise DependencyMisconfiguredError("DynamoDB", "CONNECT_STATES_TABLE_NAME is not set")
    return ConnectStates(table_name, dynamodb_client())
