"""Embedded AWS for the local stack and the tests: moto's server on loopback.

Requests are served one at a time (DynamoDB's conditional writes are linearizable; moto's are
only when nothing interleaves them), counted per service and operation, and can be made to fail
on purpose (throttling, outages, denials) to test the 503 paths.
"""

import contextlib
import json
import os
import secrets
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.server import DomainDispatcherApplication, create_backend_app  # type: ignore[attr-defined]
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .template import parameter_defaults, resources_of_type, table_resource, tables

REGION = "us-east-1"
LOCAL_TABLE_NAME = "integration-credentials-local"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
}

Environ = dict[str, Any]
StartResponse = Callable[..., Any]

# X-Amz-Target prefixes of the JSON protocols we use.
_TARGET_SERVICES = {"DynamoDB_20120810": "dynamodb", "TrentService": "kms", "AmazonSSM": "ssm"}


@dataclass
class Fault:
    """An injected failure: every matching request gets this AWS error."""

    status: int
    code: str
    operations: set[str] | None = None


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    faults: dict[str, Fault] = field(default_factory=dict)


class _QuietHandler(WSGIRequestHandler):
    """No access log: every AWS call of every request would drown the API's own log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class EmbeddedAws:
    """moto server on 127.0.0.1 with serialisation, call counting and fault injection."""

    def __init__(self, port: int = 0) -> None:
        self._state = _State()
        self._backend = DomainDispatcherApplication(create_backend_app)
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", port or _free_port(), self._app, threaded=True, request_handler=_QuietHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give boto3 (AWS_ENDPOINT_URL)."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "EmbeddedAws":
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def calls(self) -> Counter[tuple[str, str]]:
        """(service, operation) -> number of requests since the last reset."""
        with self._state.lock:
            return Counter(self._state.calls)

    def reset_calls(self) -> None:
        """Start counting from zero."""
        with self._state.lock:
            self._state.calls.clear()

    def fail(
        self, service: str, code: str, status: int = 400, operations: Iterable[str] | None = None
    ) -> None:
        """Make every request to `service` ("dynamodb", "kms", "ssm") fail with an AWS error."""
        self._state.faults[service] = Fault(status, code, set(operations) if operations else None)

    def heal(self) -> None:
        """Remove every injected fault."""
        self._state.faults.clear()

    def _app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        prefix, _, operation = target.partition(".")
        service = _TARGET_SERVICES.get(prefix, "other")
        fault = self._state.faults.get(service)
        if fault is not None and (fault.operations is None or operation in fault.operations):
            body = json.dumps({"__type": fault.code, "message": "injected fault"}).encode()
            start_response(
                f"{fault.status} Injected",
                [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", fault.code)],
            )
            return [body]
        with self._state.lock:
            self._state.calls[(service, operation)] += 1
            # Drain the response inside the lock so no other request interleaves with this one.
            return list(self._backend(environ, start_response))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class LocalResources:
    """Physical ids of what the template declares, as created on embedded AWS."""

    table_name: str
    kms_key_arn: str
    jwt_secret_parameter: str
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]


def provision(endpoint: str, jwt_secret: str, table_name: str = LOCAL_TABLE_NAME) -> LocalResources:
    """Create the table, KMS key and JWT secret parameter that template.yaml declares."""
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", REGION),
    )
    # Per-service endpoint variables (AWS_ENDPOINT_URL_DYNAMODB...) win over this one, as in boto3.
    dynamodb = session.client("dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB", endpoint))
    kms = session.client("kms", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_KMS", endpoint))
    ssm = session.client("ssm", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SSM", endpoint))

    table_logical_id, _table = table_resource()
    ((key_logical_id, _key),) = resources_of_type("AWS::KMS::Key").items()
    table_names: dict[str, str] = {}
    for logical_id, table in tables().items():
        name = table_name if logical_id == table_logical_id else f"{table_name}-{logical_id.lower()}"
        table_names[logical_id] = name
        request: dict[str, Any] = {
            "TableName": name,
            "KeySchema": table["KeySchema"],
            "AttributeDefinitions": table["AttributeDefinitions"],
            "BillingMode": table.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if table.get("GlobalSecondaryIndexes"):
            request["GlobalSecondaryIndexes"] = table["GlobalSecondaryIndexes"]
        # An external DynamoDB (AWS_ENDPOINT_URL_DYNAMODB) may already have the table.
        with contextlib.suppress(dynamodb.exceptions.ResourceInUseException):
            dynamodb.create_table(**request)
        dynamodb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
        ttl = table.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            dynamodb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
            )

    key = kms.create_key(Description="integration credentials (local)")["KeyMetadata"]
    parameters = parameter_defaults()
    parameter_name = parameters["JwtSecretParameterName"]
    for name, value in (
        (parameter_name, jwt_secret),
        (parameters["HmacKeyParameterName"], secrets.token_urlsafe(32)),
    ):
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", KeyId=key["Arn"], Overwrite=True)
    refs = {
        **parameters,
        **table_names,
        key_logical_id: key["KeyId"],
        "AWS::Region": session.region_name or REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
    }
    attributes = {
        (key_logical_id, "Arn"): key["Arn"],
        **{(logical, "Arn"): f"arn:aws:dynamodb:::{name}" for logical, name in table_names.items()},
    }
    return LocalResources(table_name, key["Arn"], parameter_name, refs, attributes)
