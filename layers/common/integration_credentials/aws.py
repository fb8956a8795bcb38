"""boto3 clients with short timeouts and bounded retries, made once per process.

Endpoints follow boto3's standard configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB...),
which is how the local stack and the tests point them at embedded AWS.
"""

import os
from functools import cache
from typing import TYPE_CHECKING

import boto3
import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ssm import SSMClient

# A request fails fast with a 503 rather than hanging a Lambda on a sick dependency.
# Retries: boto's standard mode, 3 attempts unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE say otherwise.
CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=5)


@cache
def botocore_session() -> botocore.session.Session:
    """One botocore session; the Encryption SDK makes its KMS client from it."""
    session = botocore.session.get_session()
    if not os.environ.get("AWS_RETRY_MODE"):
        session.set_config_variable("retry_mode", "standard")
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        session.set_config_variable("max_attempts", 3)
    return session


@cache
def dynamodb_client() -> "DynamoDBClient":
    """The DynamoDB client shared by the repositories."""
    return boto3.session.Session(botocore_session=botocore_session()).client("dynamodb", config=CLIENT_CONFIG)


@cache
def ssm_client() -> "SSMClient":
    """The SSM client used (through Powertools parameters) for the JWT secret."""
    return boto3.session.Session(botocore_session=botocore_session()).client("ssm", config=CLIENT_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests that move the endpoint between runs)."""
    botocore_session.cache_clear()
    dynamodb_client.cache_clear()
    ssm_client.cache_clear()
