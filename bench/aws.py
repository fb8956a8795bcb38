"""The benchmark's AWS: `EmbeddedAws` (moto) in a process of its own, driven over a pipe.

The measured handlers run in the benchmark's process; moto's work happens here, so none of it is
charged to a handler's CPU time. Calls are counted where they arrive (`EmbeddedAws.calls()`), so
every count is what AWS would bill, whatever the client does (retries included).

This module imports moto only inside the child process: the benchmark's own process never does.
"""

import contextlib
import multiprocessing
import os
import secrets
from collections import Counter
from multiprocessing.connection import Connection
from typing import Any

BENCH_TABLE_NAME = "integration-credentials-bench"


def _serve(conn: Connection, jwt_secret: str) -> None:
    """Child process: start EmbeddedAws, provision the template's resources, obey commands."""
    import boto3
    from credentials_admin.cli import create_api_key
    from local_stack import embedded_aws, provisioning

    os.environ.update(embedded_aws.FAKE_CREDENTIALS)
    # Served with keep-alive, as AWS's endpoints are.
    aws = embedded_aws.EmbeddedAws(keep_alive=True).start()
    endpoint = aws.endpoint
    resources = provisioning.provision(endpoint, jwt_secret, table_name=BENCH_TABLE_NAME)
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint)

    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
    from integration_credentials.adapters.storage.keys import org_count_key

    keys = ApiKeyRepository(resources.api_keys_table_name, dynamodb)
    conn.send((endpoint, resources, embedded_aws.FAKE_CREDENTIALS))
    while True:
        try:
            command, argument = conn.recv()
        except (EOFError, OSError):
            break
        if command == "stop":
            break
        if command == "calls":
            conn.send(dict(aws.calls()))
        elif command == "reset":
            aws.reset_calls()
            conn.send(None)
        elif command == "mint":
            conn.send(create_api_key(keys, str(argument))[0])
        elif command == "delete":
            deleted = _delete_items(dynamodb, resources.table_name, argument)
            _prune_empty_partitions(resources.table_name)
            conn.send(deleted)
        elif command == "uncount":
            dynamodb.update_item(
                TableName=resources.table_name,
                Key=org_count_key(str(argument)),
                UpdateExpression="ADD credentials_count :minus_one",
                ExpressionAttributeValues={":minus_one": {"N": "-1"}},
            )
            conn.send(None)
        elif command == "prune":
            conn.send(_prune_empty_partitions(resources.table_name))
        elif command == "fill":
            conn.send(_fill_other_orgs(dynamodb, resources.table_name, int(argument)))
        elif command == "items":
            conn.send(_get_items(dynamodb, resources.table_name, argument))
        elif command == "due":
            conn.send(_put_due_rows(dynamodb, resources.table_name, argument))
        elif command == "make_due":
            conn.send(_make_due(dynamodb, resources.table_name, argument))
        else:
            conn.send(ValueError(f"unknown command {command!r}"))
    aws.stop()


def _fill_other_orgs(dynamodb: Any, table_name: str, count: int) -> int:
    """Write `count` credentials rows of as many other orgs, 25 per BatchWriteItem."""
    written = 0
    blob = secrets.token_bytes(400)  # about the size of a real row's ciphertext
    while written < count:
        batch = []
        for _ in range(min(25, count - written)):
            org = f"other-org-{secrets.token_hex(8)}"
            batch.append(
                {
                    "PutRequest": {
                        "Item": {
                            "org_id": {"S": org},
                            "provider": {"S": "salesforce"},
                            "id": {"S": secrets.token_hex(16)},
                            "version": {"N": "1"},
                            "created_at": {"S": "2026-01-01T00:00:00.000000Z"},
                            "updated_at": {"S": "2026-01-01T00:00:00.000000Z"},
                            "ciphertext": {"B": blob},
                        }
                    }
                }
            )
        pending: dict[str, Any] = {table_name: batch}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
        written += len(batch)
    return written


def _get_items(dynamodb: Any, table_name: str, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Items by (org_id, provider), as DynamoDB returns them (to size them)."""
    found = []
    for org, provider in keys:
        key = {"org_id": {"S": org}, "provider": {"S": provider}}
        found.append(dynamodb.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item") or {})
    return found


def _put_due_rows(dynamodb: Any, table_name: str, rows: list[tuple[str, str, str, str, int]]) -> int:
    """Rows that are due for a refresh, keys only: (org_id, provider, id, shard, refresh_due). The
    scheduler reads only the refresh-due index (keys and id), never the rows themselves."""
    for start in range(0, len(rows), 25):
        requests = [
            {
                "PutRequest": {
                    "Item": {
                        "org_id": {"S": org},
                        "provider": {"S": provider},
                        "id": {"S": credentials_id},
                        "refresh_shard": {"S": shard},
                        "refresh_due": {"N": str(due)},
                    }
                }
            }
            for org, provider, credentials_id, shard, due in rows[start : start + 25]
        ]
        pending: dict[str, Any] = {table_name: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(rows)


def _make_due(dynamodb: Any, table_name: str, argument: tuple[list[tuple[str, str]], int]) -> int:
    """Schedule rows (by org_id, provider) for a refresh at `due` again, as if their tokens expired."""
    keys, due = argument
    for org, provider in keys:
        dynamodb.update_item(
            TableName=table_name,
            Key={"org_id": {"S": org}, "provider": {"S": provider}},
            UpdateExpression="SET refresh_due = :due",
            ExpressionAttributeValues={":due": {"N": str(due)}},
        )
    return len(keys)


def _delete_items(dynamodb: Any, table_name: str, keys: list[tuple[str, str]]) -> int:
    """Delete items by (org_id, provider) with BatchWriteItem (no transaction: moto copies the
    whole table for every transaction, so the benchmark keeps its table small)."""
    for start in range(0, len(keys), 25):
        requests = [
            {"DeleteRequest": {"Key": {"org_id": {"S": org}, "provider": {"S": provider}}}}
            for org, provider in keys[start : start + 25]
        ]
        pending: dict[str, Any] = {table_name: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    return len(keys)


def _prune_empty_partitions(table_name: str) -> int:
    """Forget the empty partitions moto keeps for every deleted key (its `Table.items` is a
    defaultdict of partitions). moto deep-copies the whole table on every TransactWriteItems, so
    without this each create+delete would make every later write slower, and the benchmark's
    figures would drift with its own history. Best effort: a moto without these internals is
    left alone."""
    try:
        from local_stack.embedded_aws import REGION
        from moto.core.models import DEFAULT_ACCOUNT_ID
        from moto.dynamodb.models import dynamodb_backends

        partitions = dynamodb_backends[DEFAULT_ACCOUNT_ID][REGION].tables[table_name].items
        empty = [key for key, rows in partitions.items() if isinstance(rows, dict) and not rows]
        for key in empty:
            del partitions[key]
        return len(empty)
    except Exception:  # an optimisation of the fake, never a failure
        return 0


class BenchAws:
    """Handle on the AWS process: its endpoint, resources, and the calls it has received."""

    def __init__(self, jwt_secret: str) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, jwt_secret), name="bench-embedded-aws", daemon=True
        )
        self._process.start()
        child.close()
        self.endpoint, self.resources, self.credentials = self._conn.recv()

    def _ask(self, command: str, argument: Any = None) -> Any:
        self._conn.send((command, argument))
        answer = self._conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self) -> Counter[tuple[str, str]]:
        """(service, operation) -> requests received since the last reset."""
        return Counter(self._ask("calls"))

    def reset(self) -> None:
        """Count from zero."""
        self._ask("reset")

    def mint_api_key(self, org_id: str) -> str:
        """A new API key for an org (stored as the admin CLI stores it)."""
        return str(self._ask("mint", org_id))

    def delete_items(self, keys: list[tuple[str, str]]) -> int:
        """Delete items by (org_id, provider), outside any measurement."""
        return int(self._ask("delete", keys))

    def uncount(self, org_id: str) -> None:
        """Take one credential off an org's count (MAX_CREDENTIALS_PER_ORG), as a delete does."""
        self._ask("uncount", org_id)

    def prune(self) -> int:
        """Drop moto's empty partitions (see `_prune_empty_partitions`)."""
        return int(self._ask("prune"))

    def fill_other_orgs(self, count: int) -> int:
        """Insert `count` rows of other orgs with BatchWriteItem."""
        return int(self._ask("fill", count))

    def items(self, keys: list[tuple[str, str]]) -> list[dict[str, Any]]:
        """Items by (org_id, provider), as DynamoDB returns them (empty when absent)."""
        return list(self._ask("items", keys))

    def put_due_rows(self, rows: list[tuple[str, str, str, str, int]]) -> int:
        """Write keys-only rows due for a refresh: (org_id, provider, id, shard, refresh_due)."""
        return int(self._ask("due", rows))

    def make_due(self, keys: list[tuple[str, str]], due: int) -> int:
        """Set `refresh_due` of rows (by org_id, provider), so they are due again."""
        return int(self._ask("make_due", (keys, due)))

    def stop(self) -> None:
        """Stop the process."""
        with contextlib.suppress(OSError):
            self._conn.send(("stop", None))
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
