"""boto3 clients with short timeouts and bounded retries, made once per process.

Endpoints follow boto3's standard configuration (AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_DYNAMODB...),
which is how the local stack and the tests point them at embedded AWS.
"""

import os
import threading
from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Final

import boto3
import botocore.exceptions
import botocore.session
from botocore.config import Config

from ..core.errors import DependencyError, DependencyMisconfiguredError, DependencyUnavailableError
from . import budget

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

# A request fails fast with a 503 rather than hanging a Lambda on a sick dependency: short
# per-attempt timeouts here, and the invocation's time budget (`budget`) over all attempts.
# Retries: boto's standard mode, 3 attempts unless AWS_MAX_ATTEMPTS / AWS_RETRY_MODE say otherwise.
# No client-side parameter validation ("you can disable parameter validation for performance
# reasons", botocore's Config): every request this package builds is type-checked against the
# service models by mypy (boto3-stubs, strict), and the services validate what they receive
# (its cost: docs/decisions.md).
CLIENT_CONFIG = Config(
    connect_timeout=budget.CONNECT_TIMEOUT_SECONDS,
    read_timeout=budget.READ_TIMEOUT_SECONDS,
    parameter_validation=False,
)


def aws_error_code(error: BaseException) -> str:
    """The AWS error code of a botocore error (the exception's class name when it has none)."""
    if isinstance(error, botocore.exceptions.ClientError):
        return str(error.response.get("Error", {}).get("Code", "ClientError"))
    return type(error).__name__


# Error codes that say "try again": throttling, the service's own failures, timeouts, contention.
TRANSIENT_CODES: Final = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "InternalServerError",
        "InternalServerException",
        "InternalFailure",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
        "KMSInternalException",
        "KeyUnavailableException",
        "DependencyTimeoutException",
        "TransactionConflictException",
        "TransactionInProgressException",
        "ReplicatedWriteConflictException",
        "TransactionConflict",
    }
)
# botocore's own errors that no retry fixes: the function has no credentials, region or endpoint.
_CONFIGURATION_ERRORS: Final = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.NoRegionError,
    botocore.exceptions.UnknownServiceError,
    botocore.exceptions.ParamValidationError,
)


def dependency_error(dependency: str, code: str, status: int | None = None) -> DependencyError:
    """The domain error of a failed AWS call: unavailable (retry later) for the transient codes
    and any 5xx, misconfigured for the rest (denied, not found, invalid, disabled)."""
    if code in TRANSIENT_CODES or code.startswith("TransactionCanceled") or (status or 0) >= 500:
        return DependencyUnavailableError(dependency, code)
    return DependencyMisconfiguredError(dependency, code)


def dependency_error_of(dependency: str, error: BaseException) -> DependencyError:
    """`dependency_error` of a botocore exception: a ClientError by its code and HTTP status;
    missing credentials or region as misconfigured; connection failures and timeouts as
    unavailable."""
    if isinstance(error, botocore.exceptions.ClientError):
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return dependency_error(dependency, aws_error_code(error), status)
    if isinstance(error, _CONFIGURATION_ERRORS):
        return DependencyMisconfiguredError(dependency, type(error).__name__)
    return DependencyUnavailableError(dependency, type(error).__name__)


# Clients are thread-safe once made, sessions are not: clients are made one at a time (the
# refresh worker's threads may ask for one at once).
_MAKING = threading.RLock()


@cache
def botocore_session() -> botocore.session.Session:
    """One botocore session; the Encryption SDK makes its KMS client from it."""
    with _MAKING:
        return _new_session()


def _new_session() -> botocore.session.Session:
    session = botocore.session.get_session()
    # Every client made from the session gets these timeouts, also those made by libraries that
    # pass a config of their own (merged over this one): the Encryption SDK's KMS client passes
    # only a user agent.
    session.set_default_client_config(CLIENT_CONFIG)
    budget.register(session)
    if not os.environ.get("AWS_RETRY_MODE"):
        session.set_config_variable("retry_mode", "standard")
    if not os.environ.get("AWS_MAX_ATTEMPTS"):
        session.set_config_variable("max_attempts", 3)
    return session


@cache
def dynamodb_client() -> "DynamoDBClient":
    """The DynamoDB client shared by the repositories."""
    with _MAKING:
        session = boto3.session.Session(botocore_session=botocore_session())
        return session.client("dynamodb", config=CLIENT_CONFIG)


@cache
def ssm_client() -> "SSMClient":
    """The SSM client used (through Powertools parameters) for the JWT secret."""
    with _MAKING:
        session = boto3.session.Session(botocore_session=botocore_session())
        return session.client("ssm", config=CLIENT_CONFIG)


@cache
def events_client() -> "EventBridgeClient":
    """The EventBridge client that publishes credentials events."""
    with _MAKING:
        session = boto3.session.Session(botocore_session=botocore_session())
        return session.client("events", config=CLIENT_CONFIG)


@cache
def sqs_client() -> "SQSClient":
    """The SQS client the refresh scheduler enqueues with."""
    with _MAKING:
        session = boto3.session.Session(botocore_session=botocore_session())
        return session.client("sqs", config=CLIENT_CONFIG)


def preload_service_models(services: Iterable[str]) -> None:
    """Parse the API model and endpoint rules of each service into the shared session's loader,
    where the clients made later find them. Makes no client, so no credentials are resolved and
    nothing is sent (safe before a SnapStart snapshot)."""
    session = botocore_session()
    loader = session.get_component("data_loader")
    for service in services:
        session.get_service_model(service)
        loader.load_service_model(service, "endpoint-rule-set-1")


def reset_clients() -> None:
    """Forget cached clients (tests that move the endpoint between runs)."""
    for cached in (botocore_session, dynamodb_client, ssm_client, events_client, sqs_client):
        cached.cache_clear()
