"""Secrets from SSM SecureString parameters and plain String ones, through Powertools parameters
(cached per process), and the service's HMAC (used where a record must identify a value without
holding it)."""

import hashlib
import hmac
from functools import cache
from typing import TYPE_CHECKING

import botocore.exceptions

from ..core.errors import DependencyMisconfiguredError, DependencyUnavailableError
from ..core.settings import get_settings
from .aws import dependency_error_of, ssm_client

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider


@cache
def ssm_provider() -> "SSMProvider":
    """The process's parameter provider (its cache lives as long as the Lambda instance)."""
    # Imported here, not at init: a request with an API key reads no parameter (bearer tokens,
    # refused callers and token writes do), so Powertools parameters stay out of the cold start.
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    return SSMProvider(boto3_client=ssm_client())


def clear_parameter_cache() -> None:
    """Forget every cached parameter value, if the provider was made (the next read asks SSM)."""
    if ssm_provider.cache_info().currsize:
        ssm_provider().clear_cache()  # type: ignore[no-untyped-call]  # Powertools leaves it untyped


def secure_parameter(name: str, max_age: int) -> str:
    """A SecureString's value; a `DependencyError` when SSM fails (misconfigured when the
    parameter is missing, denied or empty)."""
    return parameter(name, max_age)


def parameter(name: str, max_age: int) -> str:
    """A parameter's value, a String's as it is, a SecureString's decrypted; a `DependencyError`
    when SSM fails (misconfigured when the parameter is missing, denied or empty)."""
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        value = ssm_provider().get(name, decrypt=True, max_age=max_age)
    except GetParameterError as error:
        cause = error.__cause__ or error.__context__
        if isinstance(cause, botocore.exceptions.ClientError | botocore.exceptions.BotoCoreError):
            raise dependency_error_of("SSM", cause) from error
        raise DependencyUnavailableError("SSM", "GetParameterError") from error
    if not isinstance(value, str) or not value:
        raise DependencyMisconfiguredError("SSM", "EmptyParameter")
    return value


def service_hmac(data: bytes) -> str:
    """HMAC-SHA256 of `data` under the service's key (HMAC_KEY_PARAMETER), hex."""
    settings = get_settings()
    if not settings.hmac_key_parameter:
        raise DependencyMisconfiguredError("SSM", "HmacKeyNotConfigured")
    key = secure_parameter(settings.hmac_key_parameter, settings.jwt_secret_cache_seconds)
    return hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
