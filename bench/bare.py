"""The floor the benchmark compares the service with: one bare handler per route, written with
boto3 and the standard library's json only.

Each parses the API Gateway event, makes the DynamoDB operation(s) the real route makes (same
operations, same keys, same conditions, same strongly consistent reads), the KMS calls the real
route makes per warm request (measured, then passed in: a route that makes none warm makes none
here), and returns a JSON response. It does no validation, no local cryptography, no logging,
no metrics and no audit: everything the service does on top of that is what the ratio shows.
Its rows live under their own orgs and id-mirror prefix, so they never mix with the service's.
"""

import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import boto3

Event = dict[str, Any]
Response = dict[str, Any]
ID_PREFIX = "BAREID#"


def _reply(status: int, payload: Any) -> Response:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(payload),
        "isBase64Encoded": False,
    }


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class BareService:
    """The six bare handlers. `kms_calls[route]` lists the KMS operations ("Decrypt",
    "GenerateDataKey") to make per request of that route."""

    def __init__(
        self,
        table_name: str,
        kms_key_arn: str,
        api_keys: Mapping[str, str],
        kms_calls: Mapping[str, list[str]],
    ) -> None:
        # Module globals in a real bare Lambda: clients made once per process.
        self._dynamodb = boto3.client("dynamodb")
        self._kms_client = boto3.client("kms")
        self._table = table_name
        self._key_arn = kms_key_arn
        self._api_keys = dict(api_keys)  # the cached key -> org lookup of a warm instance
        self.kms_calls = dict(kms_calls)
        self._keys: dict[str, tuple[str, str]] = {}  # id -> its row's key, as the service keeps
        self.handlers: dict[str, Callable[[Event], Response]] = {
            "create_credentials": self.create,
            "list_credentials": self.list,
            "get_credentials_by_provider": self.get_by_provider,
            "get_credentials": self.get,
            "update_credentials": self.update,
            "delete_credentials": self.delete,
        }

    # -- helpers -----------------------------------------------------------------------------

    def _org(self, event: Event) -> str | None:
        return self._api_keys.get((event.get("headers") or {}).get("x-api-key", ""))

    def _kms(self, route: str, item: Mapping[str, Any] | None, context: dict[str, str]) -> bytes:
        """The route's KMS calls; returns the encrypted data key to store (if one was made)."""
        edk = bytes(item["edk"]["B"]) if item and "edk" in item else b""
        for operation in self.kms_calls.get(route, []):
            if operation == "Decrypt" and item is not None:
                old = {
                    "org_id": (item.get("owner_org_id") or item["org_id"])["S"],
                    "provider": (item.get("owner_provider") or item["provider"])["S"],
                    "id": item["id"]["S"],
                }
                self._kms_client.decrypt(CiphertextBlob=edk, EncryptionContext=old, KeyId=self._key_arn)
            elif operation == "GenerateDataKey":
                made = self._kms_client.generate_data_key(
                    KeyId=self._key_arn, KeySpec="AES_256", EncryptionContext=context
                )
                edk = made["CiphertextBlob"]
        return edk

    def _puts(self, row: dict[str, Any], condition: str, values: dict[str, Any] | None) -> list[Any]:
        mirror = {
            "org_id": {"S": ID_PREFIX + row["id"]["S"]},
            "provider": {"S": "ID"},
            "id": row["id"],
            "owner_org_id": row["org_id"],
            "owner_provider": row["provider"],
        }
        puts = []
        for item in (row, mirror):
            put: dict[str, Any] = {"TableName": self._table, "Item": item, "ConditionExpression": condition}
            if values:
                put["ExpressionAttributeValues"] = values
            puts.append({"Put": put})
        return puts

    @staticmethod
    def _view(item: Mapping[str, Any]) -> dict[str, Any]:
        secret = json.loads(item["secret"]["S"])
        org = item.get("owner_org_id") or item["org_id"]
        provider = item.get("owner_provider") or item["provider"]
        return {
            "id": item["id"]["S"],
            "org_id": org["S"],
            "provider": provider["S"],
            **secret,
            "created_at": item["created_at"]["S"],
            "updated_at": item["updated_at"]["S"],
        }

    def _by_id(self, event: Event) -> tuple[str | None, Mapping[str, Any] | None, Response | None]:
        org = self._org(event)
        if org is None:
            return None, None, _reply(401, {"detail": "unauthorized"})
        credentials_id = event["pathParameters"]["credentials_id"]
        known = self._keys.get(credentials_id)
        if known is not None:  # as the service: an id seen before names its row key
            item = self._dynamodb.get_item(
                TableName=self._table,
                Key={"org_id": {"S": known[0]}, "provider": {"S": known[1]}},
                ConsistentRead=True,
            ).get("Item")
            if item is None or item["id"]["S"] != credentials_id:
                return org, None, _reply(404, {"detail": "not found"})
            if known[0] != org:
                return org, None, _reply(403, {"detail": "forbidden"})
            return org, item, None
        # The id mirror names the row; the row is read next (both strongly consistent).
        mirror = self._dynamodb.get_item(
            TableName=self._table,
            Key={"org_id": {"S": ID_PREFIX + credentials_id}, "provider": {"S": "ID"}},
            ConsistentRead=True,
        ).get("Item")
        if mirror is None:
            return org, None, _reply(404, {"detail": "not found"})
        if mirror["owner_org_id"]["S"] != org:
            return org, None, _reply(403, {"detail": "forbidden"})
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"org_id": mirror["owner_org_id"], "provider": mirror["owner_provider"]},
            ConsistentRead=True,
        ).get("Item")
        if item is None or item["id"] != mirror["id"]:
            return org, None, _reply(404, {"detail": "not found"})
        self._keys[credentials_id] = (mirror["owner_org_id"]["S"], mirror["owner_provider"]["S"])
        return org, item, None

    # -- routes ------------------------------------------------------------------------------

    def create(self, event: Event) -> Response:
        org = self._org(event)
        if org is None:
            return _reply(401, {"detail": "unauthorized"})
        body = json.loads(event["body"])
        credentials_id, now = str(uuid.uuid4()), _now()
        context = {"org_id": org, "provider": body["provider"], "id": credentials_id}
        secret = {"dsn": body["dsn"], "access_token": body["access_token"], "metadata": body.get("metadata")}
        row = {
            "org_id": {"S": org},
            "provider": {"S": body["provider"]},
            "id": {"S": credentials_id},
            "version": {"N": "1"},
            "created_at": {"S": now},
            "updated_at": {"S": now},
            "secret": {"S": json.dumps(secret)},
        }
        edk = self._kms("create_credentials", None, context)
        if edk:
            row["edk"] = {"B": edk}
        self._dynamodb.transact_write_items(
            TransactItems=self._puts(row, "attribute_not_exists(org_id)", None)
        )
        return _reply(201, self._view(row))

    def get_by_provider(self, event: Event) -> Response:
        org = self._org(event)
        if org is None:
            return _reply(401, {"detail": "unauthorized"})
        provider = event["pathParameters"]["provider"]
        item = self._dynamodb.get_item(
            TableName=self._table,
            Key={"org_id": {"S": org}, "provider": {"S": provider}},
            ConsistentRead=True,
        ).get("Item")
        if item is None:
            return _reply(404, {"detail": "not found"})
        self._kms("get_credentials_by_provider", item, {})
        return _reply(200, self._view(item))

    def list(self, event: Event) -> Response:
        org = self._org(event)
        if org is None:
            return _reply(401, {"detail": "unauthorized"})
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": org}},
            "ConsistentRead": True,
        }
        items: list[Any] = []
        while True:
            page = self._dynamodb.query(**request)
            items.extend(page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if items:
            self._kms("list_credentials", items[0], {})
        return _reply(200, [self._view(item) for item in items])

    def get(self, event: Event) -> Response:
        _org, item, refused = self._by_id(event)
        if refused is not None or item is None:
            return refused or _reply(404, {"detail": "not found"})
        self._kms("get_credentials", item, {})
        return _reply(200, self._view(item))

    def update(self, event: Event) -> Response:
        org, item, refused = self._by_id(event)
        if refused is not None or item is None or org is None:
            return refused or _reply(404, {"detail": "not found"})
        patch = json.loads(event["body"])
        secret = json.loads(item["secret"]["S"])
        for name in ("dsn", "access_token"):
            if patch.get(name) is not None:
                secret[name] = patch[name]
        if isinstance(patch.get("metadata"), dict):
            metadata = dict(secret.get("metadata") or {})
            for name, value in patch["metadata"].items():
                if value is None:
                    metadata.pop(name, None)
                else:
                    metadata[name] = value
            secret["metadata"] = metadata
        version = int(item["version"]["N"])
        changed: dict[str, Any] = {
            "version": {"N": str(version + 1)},
            "updated_at": {"S": _now()},
            "secret": {"S": json.dumps(secret)},
        }
        context = {"org_id": org, "provider": item["provider"]["S"], "id": item["id"]["S"]}
        edk = self._kms("update_credentials", item, context)
        if edk:
            changed["edk"] = {"B": edk}
        # As the route does: one UpdateItem of the row (only what changes), under the version read.
        values = {":id": item["id"], ":version": {"N": str(version)}}
        values.update({f":new_{name}": value for name, value in changed.items()})
        self._dynamodb.update_item(
            TableName=self._table,
            Key={"org_id": {"S": org}, "provider": item["provider"]},
            UpdateExpression="SET " + ", ".join(f"{name} = :new_{name}" for name in changed),
            ConditionExpression="id = :id AND version = :version",
            ExpressionAttributeValues=values,
        )
        return _reply(200, self._view({**item, **changed}))

    def delete(self, event: Event) -> Response:
        org, item, refused = self._by_id(event)
        if refused is not None or item is None or org is None:
            return refused or _reply(404, {"detail": "not found"})
        self._kms("delete_credentials", item, {})
        values = {":id": item["id"]}
        self._dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"org_id": {"S": org}, "provider": item["provider"]},
                        "ConditionExpression": "id = :id",
                        "ExpressionAttributeValues": values,
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": {"org_id": {"S": ID_PREFIX + item["id"]["S"]}, "provider": {"S": "ID"}},
                        "ConditionExpression": "attribute_exists(org_id)",
                    }
                },
            ]
        )
        return _reply(200, {"message": f"Integration credentials {item['id']['S']} deleted successfully"})
