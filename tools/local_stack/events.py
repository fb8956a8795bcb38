"""The events AWS sends a function, built as AWS builds them: API Gateway HTTP API (payload v2.0)
requests, EventBridge scheduled events, and Lambda's SQS event source batches. The one builder of
each, for the local stack, the tests and the bench."""

import base64
import time
import uuid
from typing import Any
from urllib.parse import parse_qsl

LOCAL_ACCOUNT_ID = "123456789012"


def api_gateway_event(
    environ: dict[str, Any], route_key: str, path_parameters: dict[str, str], body: bytes
) -> dict[str, Any]:
    """The event for one WSGI request (the local stack's HTTP server), selected by `route_key`."""
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    return http_api_event(
        environ["REQUEST_METHOD"],
        environ.get("PATH_INFO", "/"),
        route_key=route_key,
        path_parameters=path_parameters,
        headers=headers,
        query=environ.get("QUERY_STRING", ""),
        body=body,
        protocol=environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
        source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
    )


def http_api_event(
    method: str,
    path: str,
    *,
    route_key: str,
    path_parameters: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    body: bytes = b"",
    protocol: str = "HTTP/1.1",
    source_ip: str = "127.0.0.1",
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event: header names in lowercase, the query string
    both raw and parsed, a body that is not UTF-8 in base64 (`isBase64Encoded`)."""
    headers = {name.lower(): value for name, value in (headers or {}).items()}
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": LOCAL_ACCOUNT_ID,
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": protocol,
                "sourceIp": source_ip,
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends for a batch of received messages."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """An SQS message attribute as Lambda spells it (camelCase, binary values in base64)."""

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = b64(value["BinaryValue"])
    return attribute
