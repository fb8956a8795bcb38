"""The embedded AWS's speed-ups of moto (local_stack.moto_speedups) answer as moto does: every
query, on the table or an index, paged or not, forwards or backwards, gives what unpatched moto
gives on the same table; a cancelled transaction leaves the table exactly as it was, a committed
one applies."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from local_stack import moto_speedups
from moto import mock_aws
from moto.dynamodb.models.table import Table

TABLE = "speedups"
INDEX = "by-shard"
SETTINGS = settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    moto_speedups.install()
    with mock_aws():
        client = boto3.client(
            "dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
        )
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[
                {"AttributeName": name, "AttributeType": kind}
                for name, kind in (("org", "S"), ("provider", "S"), ("shard", "S"), ("due", "N"))
            ],
            KeySchema=[
                {"AttributeName": "org", "KeyType": "HASH"},
                {"AttributeName": "provider", "KeyType": "RANGE"},
            ],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": INDEX,
                    "KeySchema": [
                        {"AttributeName": "shard", "KeyType": "HASH"},
                        {"AttributeName": "due", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "KEYS_ONLY"},
                }
            ],
        )
        yield client


@contextmanager
def unpatched() -> Iterator[None]:
    """A context in which moto's Table is as moto ships it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Table, "query", Table.query.__wrapped__)
        patch.setattr(Table, "all_items", Table.all_items.__wrapped__)
        yield


def every_page(client: Any, request: dict[str, Any]) -> list[dict[str, Any]]:
    pages = []
    while True:
        page = client.query(**request)
        pages.append({"Items": page["Items"], "LastEvaluatedKey": page.get("LastEvaluatedKey")})
        if "LastEvaluatedKey" not in page:
            return pages
        request = {**request, "ExclusiveStartKey": page["LastEvaluatedKey"]}


ORGS = st.sampled_from(["a", "b", "c", "d"])
PROVIDERS = st.sampled_from(["hubspot", "pipedrive", "salesforce", "zoho", "dynamics"])
SHARDS = st.sampled_from(["0", "1", "2"])
ROWS = st.lists(
    st.tuples(ORGS, PROVIDERS, st.one_of(st.none(), st.tuples(SHARDS, st.integers(0, 20)))), max_size=30
)


@st.composite
def queries(draw: st.DrawFn) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": TABLE, "ScanIndexForward": draw(st.booleans())}
    if draw(st.booleans()):
        request["Limit"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        request["IndexName"] = INDEX
        request["KeyConditionExpression"] = "shard = :h AND due <= :r"
        request["ExpressionAttributeValues"] = {
            ":h": {"S": draw(SHARDS)},
            ":r": {"N": str(draw(st.integers(0, 20)))},
        }
    elif draw(st.booleans()):
        request["KeyConditionExpression"] = "org = :h AND provider > :r"
        request["ExpressionAttributeValues"] = {":h": {"S": draw(ORGS)}, ":r": {"S": draw(PROVIDERS)}}
    else:
        request["KeyConditionExpression"] = "org = :h"
        request["ExpressionAttributeValues"] = {":h": {"S": draw(ORGS)}}
    return request


@SETTINGS
@given(rows=ROWS, request=queries())
def test_every_query_answers_as_unpatched_moto(dynamodb, rows, request):
    # Given a table with rows in a few partitions, some of them in the index
    for org, provider, indexed in rows:
        item = {"org": {"S": org}, "provider": {"S": provider}, "secret": {"S": f"{org}/{provider}"}}
        if indexed is not None:
            item |= {"shard": {"S": indexed[0]}, "due": {"N": str(indexed[1])}}
        dynamodb.put_item(TableName=TABLE, Item=item)
    # When a query is paged through with the speed-ups and without them
    fast = every_page(dynamodb, request)
    with unpatched():
        slow = every_page(dynamodb, request)
    # Then every page and its continuation are the same
    assert fast == slow


def scan(client: Any) -> list[dict[str, Any]]:
    return sorted(client.scan(TableName=TABLE)["Items"], key=repr)


def put(client: Any, org: str, provider: str, **attributes: Any) -> None:
    item = {"org": {"S": org}, "provider": {"S": provider}} | {
        name: {"N": str(value)} for name, value in attributes.items()
    }
    client.put_item(TableName=TABLE, Item=item)


def key(org: str, provider: str) -> dict[str, Any]:
    return {"org": {"S": org}, "provider": {"S": provider}}


def set_version(org: str, provider: str, expression: str, values: dict[str, Any]) -> dict[str, Any]:
    """A transaction's Update of one row."""
    return {
        "Update": {
            "TableName": TABLE,
            "Key": key(org, provider),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
    }


def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb):
    # Given three rows, one of them in the partition a new row would join
    put(dynamodb, "a", "hubspot", version=1)
    put(dynamodb, "a", "zoho", version=7)
    put(dynamodb, "b", "hubspot", version=1)
    before = scan(dynamodb)
    # When a transaction updates one row in place, adds one, deletes one, and then its last
    # condition fails
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(
            TransactItems=[
                set_version(
                    "a",
                    "hubspot",
                    "SET version = version + :one, note = :note",
                    {":one": {"N": "1"}, ":note": {"S": "changed"}},
                ),
                {"Put": {"TableName": TABLE, "Item": key("a", "pipedrive") | {"version": {"N": "1"}}}},
                {"Delete": {"TableName": TABLE, "Key": key("b", "hubspot")}},
                {
                    "ConditionCheck": {
                        "TableName": TABLE,
                        "Key": key("a", "zoho"),
                        "ConditionExpression": "version = :v",
                        "ExpressionAttributeValues": {":v": {"N": "8"}},
                    }
                },
            ]
        )
    assert cancelled.value.response["Error"]["Code"] == "TransactionCanceledException"
    # Then the table is exactly as it was
    assert scan(dynamodb) == before


def test_a_committed_transaction_applies_and_a_later_cancelled_one_keeps_it(dynamodb):
    # Given a row, updated and joined by another in one committed transaction
    put(dynamodb, "a", "hubspot", version=1)
    dynamodb.transact_write_items(
        TransactItems=[
            set_version("a", "hubspot", "SET version = :two", {":two": {"N": "2"}}),
            {"Put": {"TableName": TABLE, "Item": key("a", "zoho") | {"version": {"N": "1"}}}},
        ]
    )
    committed = scan(dynamodb)
    assert {item["provider"]["S"]: item["version"]["N"] for item in committed} == {
        "hubspot": "2",
        "zoho": "1",
    }
    # When a second transaction changes both and is cancelled by its own condition
    with pytest.raises(ClientError):
        dynamodb.transact_write_items(
            TransactItems=[
                set_version("a", "hubspot", "SET version = :three", {":three": {"N": "3"}}),
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": key("a", "zoho") | {"version": {"N": "9"}},
                        "ConditionExpression": "attribute_not_exists(org)",
                    }
                },
            ]
        )
    # Then the committed state is what remains
    assert scan(dynamodb) == committed
