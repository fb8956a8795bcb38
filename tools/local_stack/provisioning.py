"""What template.yaml declares, created on an embedded AWS: the tables with their indexes, the KMS
key, the queues with their dead-letter queues, the event bus and the SecureStrings that AWS
environments create once (JWT secret, HMAC key, connect result key, the OAuth clients)."""

import contextlib
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from integration_credentials.adapters.providers import REFRESHABLE_PROVIDERS
from integration_credentials.core.constants import oauth_client_id_parameter

from . import iam
from .fake_aws import REGION
from .template import parameter_defaults, resolve, resources_of_type, table_resource, tables

LOCAL_TABLE_NAME = "integration-credentials-local"
# template.yaml's logical id of the API keys table.
API_KEYS_TABLE = "ApiKeysTable"


@dataclass(frozen=True)
class LocalResources:
    """Physical ids of what the template declares, as created on embedded AWS."""

    table_name: str
    kms_key_arn: str
    jwt_secret_parameter: str
    refs: dict[str, str]
    attributes: dict[tuple[str, str], str]
    # Queue logical id -> queue URL (ARNs are in `attributes`).
    queue_urls: dict[str, str] = field(default_factory=dict)
    event_bus_name: str = "default"
    # Provider -> the local OAuth client id (the secrets stay in SSM).
    oauth_client_ids: dict[str, str] = field(default_factory=dict)
    # What signs the connect flow's result (a platform's return page verifies with it).
    connect_result_key: str = ""

    @property
    def api_keys_table_name(self) -> str:
        """The API keys table (template.yaml's ApiKeysTable)."""
        return self.refs[API_KEYS_TABLE]


def _env_suffix(provider: str) -> str:
    return provider.upper().replace("-", "_")


def local_oauth_client(provider: str) -> dict[str, str]:
    """The OAuth client the local stack stores for `provider`: LOCAL_OAUTH_CLIENT_ID_<PROVIDER> and
    LOCAL_OAUTH_CLIENT_SECRET_<PROVIDER> if set, else `local-<provider>-client` and a random secret."""
    suffix = _env_suffix(provider)
    return {
        "client_id": os.environ.get(f"LOCAL_OAUTH_CLIENT_ID_{suffix}") or f"local-{provider}-client",
        "client_secret": os.environ.get(f"LOCAL_OAUTH_CLIENT_SECRET_{suffix}") or secrets.token_urlsafe(32),
    }


def provision(
    endpoint: str,
    jwt_secret: str,
    table_name: str = LOCAL_TABLE_NAME,
    oauth_clients: Mapping[str, Mapping[str, str]] | None = None,
) -> LocalResources:
    """Create what template.yaml declares and the functions need: the tables (with their indexes),
    the KMS key, the queues, the event bus, and the SecureStrings created once per environment in
    AWS (JWT secret, HMAC key, connect result key, one OAuth client per refreshable provider:
    `oauth_clients`' where it names one, so a fake provider can know the same secret, else
    `local_oauth_client`'s, with its client id alone beside it as a String)."""
    session = boto3.session.Session(
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "local"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "local"),
        region_name=os.environ.get("AWS_DEFAULT_REGION", REGION),
    )

    # Per-service endpoint variables (AWS_ENDPOINT_URL_DYNAMODB...) win over this one, as in boto3.
    def endpoint_of(service_variable: str) -> str:
        return os.environ.get(f"AWS_ENDPOINT_URL_{service_variable}", endpoint)

    dynamodb = session.client("dynamodb", endpoint_url=endpoint_of("DYNAMODB"))
    kms = session.client("kms", endpoint_url=endpoint_of("KMS"))
    ssm = session.client("ssm", endpoint_url=endpoint_of("SSM"))

    table_names = _create_tables(dynamodb, table_name)
    ((key_logical_id, _key),) = resources_of_type("AWS::KMS::Key").items()
    key = kms.create_key(Description="integration credentials (local)")["KeyMetadata"]
    parameters = parameter_defaults()
    parameter_name = parameters["JwtSecretParameterName"]
    connect_result_key = secrets.token_urlsafe(48)
    for name, value in (
        (parameter_name, jwt_secret),
        (parameters["HmacKeyParameterName"], secrets.token_urlsafe(32)),
        (parameters["ConnectResultKeyParameterName"], connect_result_key),
    ):
        # Under SSM's own key (alias/aws/ssm), as docs/operations.md's deployment steps create them.
        ssm.put_parameter(Name=name, Value=value, Type="SecureString", Overwrite=True)
    oauth_client_ids: dict[str, str] = {}
    prefix = parameters.get("OAuthClientParameterPrefix")
    if prefix:
        for provider in sorted(REFRESHABLE_PROVIDERS):
            given = (oauth_clients or {}).get(provider)
            oauth_client = (
                {"client_id": given["client_id"], "client_secret": given["client_secret"]}
                if given
                else local_oauth_client(provider)
            )
            ssm.put_parameter(
                Name=f"{prefix}{provider}",
                Value=json.dumps(oauth_client),
                Type="SecureString",
                Overwrite=True,
            )
            # The client id alone, as a String: all that the connect function may read.
            ssm.put_parameter(
                Name=oauth_client_id_parameter(prefix, provider),
                Value=oauth_client["client_id"],
                Type="String",
                Overwrite=True,
            )
            oauth_client_ids[provider] = oauth_client["client_id"]
    refs = {
        **parameters,
        **table_names,
        key_logical_id: key["KeyId"],
        "AWS::Region": session.region_name or REGION,
        "AWS::AccountId": "123456789012",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    attributes = {
        (key_logical_id, "Arn"): key["Arn"],
        **{(logical, "Arn"): iam.table_arn(name, REGION) for logical, name in table_names.items()},
    }
    queue_urls = _create_queues(
        session.client("sqs", endpoint_url=endpoint_of("SQS")), table_name, refs, attributes
    )
    refs.update(queue_urls)
    event_bus_name = parameters.get("EventBusName") or "default"
    if event_bus_name != "default":
        events = session.client("events", endpoint_url=endpoint_of("EVENTBRIDGE"))
        with contextlib.suppress(events.exceptions.ResourceAlreadyExistsException):
            events.create_event_bus(Name=event_bus_name)
    return LocalResources(
        table_name,
        key["Arn"],
        parameter_name,
        refs,
        attributes,
        queue_urls=queue_urls,
        event_bus_name=event_bus_name,
        oauth_client_ids=oauth_client_ids,
        connect_result_key=connect_result_key,
    )


def local_table_name(logical_id: str, table_name: str = LOCAL_TABLE_NAME) -> str:
    """The name a template table gets locally: the credentials table's is `table_name`, the
    others' `table_name` + "-" + their logical id in lowercase."""
    table_logical_id, _table = table_resource()
    return table_name if logical_id == table_logical_id else f"{table_name}-{logical_id.lower()}"


def _create_tables(dynamodb: Any, table_name: str) -> dict[str, str]:
    """Every table of the template (keys, attributes, indexes, TTL): logical id -> table name."""
    table_names: dict[str, str] = {}
    for logical_id, table in tables().items():
        name = local_table_name(logical_id, table_name)
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
    return table_names


# AWS::SQS::Queue properties that are queue attributes of the same name.
_QUEUE_ATTRIBUTES = (
    "ContentBasedDeduplication",
    "DelaySeconds",
    "FifoQueue",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "SqsManagedSseEnabled",
    "VisibilityTimeout",
)


def _create_queues(
    sqs: Any, prefix: str, refs: dict[str, str], attributes: dict[tuple[str, str], str]
) -> dict[str, str]:
    """Every queue of the template, dead-letter queues first: logical id -> queue URL. Adds each
    queue's Arn, QueueName and QueueUrl to `attributes`."""
    pending = {
        logical: resource.get("Properties", {})
        for logical, resource in resources_of_type("AWS::SQS::Queue").items()
    }
    urls: dict[str, str] = {}
    while pending:
        ready = [
            logical
            for logical, props in pending.items()
            if _dead_letter_queue(props) is None or _dead_letter_queue(props) in urls
        ]
        if not ready:
            raise ValueError(f"queues whose dead-letter queue is not in the template: {sorted(pending)}")
        for logical in ready:
            props = pending.pop(logical)
            queue_attributes = {
                name: str(props[name]).lower() if isinstance(props[name], bool) else str(props[name])
                for name in _QUEUE_ATTRIBUTES
                if name in props
            }
            redrive = props.get("RedrivePolicy")
            if redrive:
                queue_attributes["RedrivePolicy"] = json.dumps(
                    {
                        "deadLetterTargetArn": resolve(redrive["deadLetterTargetArn"], refs, attributes),
                        "maxReceiveCount": int(redrive["maxReceiveCount"]),
                    }
                )
            # SQS requires a FIFO queue's name to end in .fifo (CloudFormation adds it too).
            name = f"{prefix}-{logical.lower()}" + (".fifo" if props.get("FifoQueue") else "")
            url = sqs.create_queue(QueueName=name, Attributes=queue_attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            urls[logical] = url
            attributes.update(
                {(logical, "Arn"): arn, (logical, "QueueName"): name, (logical, "QueueUrl"): url}
            )
    return urls


def _dead_letter_queue(props: dict[str, Any]) -> str | None:
    """The logical id of a queue's dead-letter queue (`!GetAtt <Queue>.Arn`), if it has one."""
    target = (props.get("RedrivePolicy") or {}).get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target:
        return str(target["Fn::GetAtt"][0])
    return None
