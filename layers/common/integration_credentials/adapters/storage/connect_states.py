"""Single-use states of the OAuth connect flow, in a table of their own keyed by the SHA-256 of the
state (the state itself is never stored). Everything the callback trusts (return URL, PKCE
verifier, reconnect id, principal, hints) is in the item's ciphertext, bound by its encryption
context to the org, the provider and the state's hash; the plaintext attributes are the key, the
context and the expiry (DynamoDB's TTL attribute, which deletes late: every read checks it too).
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from ...core.errors import DependencyMisconfiguredError
from ...core.settings import get_settings
from ..aws import dynamodb_client
from .dynamodb import Table, TransactionCancelledError, dynamodb_errors, transact

# The id in a state's encryption context: the key policy's context keys are a credential's
# (org_id, provider, id), and this id can never be a credential's (those are UUIDs).
CONTEXT_ID_PREFIX = "connect-state:"


@dataclass(frozen=True, slots=True)
class ConnectStateItem:
    """One stored state: `key` is the state's hash, `expires_at` epoch seconds."""

    key: str
    org_id: str
    provider: str
    created_at: str
    expires_at: int
    ciphertext: bytes

    @property
    def encryption_context(self) -> dict[str, str]:
        """Binds the ciphertext to this org, provider and state."""
        return {"org_id": self.org_id, "provider": self.provider, "id": CONTEXT_ID_PREFIX + self.key}


def _item(state: ConnectStateItem) -> dict[str, Any]:
    return {
        "state_hash": {"S": state.key},
        "org_id": {"S": state.org_id},
        "provider": {"S": state.provider},
        "created_at": {"S": state.created_at},
        "expires_at": {"N": str(state.expires_at)},
        "ciphertext": {"B": state.ciphertext},
    }


def _state_of(item: dict[str, Any]) -> ConnectStateItem | None:
    try:
        return ConnectStateItem(
            key=str(item["state_hash"]["S"]),
            org_id=str(item["org_id"]["S"]),
            provider=str(item["provider"]["S"]),
            created_at=str(item["created_at"]["S"]),
            expires_at=int(item["expires_at"]["N"]),
            ciphertext=bytes(item["ciphertext"]["B"]),
        )
    except (KeyError, TypeError, ValueError):
        return None


class ConnectStates(Table):
    """Put a state once; read it while it is live; consume it once."""

    def add(self, state: ConnectStateItem) -> None:
        """Store a new state (a hash collision, which 256 random bits make moot, is refused). A
        transaction of one item: its client request token makes a retry after a lost answer
        meet nothing but its own write."""
        transact(
            self._client,
            [
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": _item(state),
                        "ConditionExpression": "attribute_not_exists(state_hash)",
                    }
                }
            ],
        )

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
