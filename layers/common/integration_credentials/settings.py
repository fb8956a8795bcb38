"""Settings parsed once from the environment (names match template.yaml's Globals)."""

from functools import cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    """Runtime configuration of the functions and the admin CLI."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=1)
    kms_key_arn: str = Field(min_length=1)
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret_parameter: str | None = None
    hmac_key_parameter: str | None = None
    idempotency_table_name: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    jwt_secret_cache_seconds: int = Field(default=300, ge=0)
    api_key_cache_seconds: int = Field(default=60, ge=0)
    data_key_cache_seconds: float = Field(default=300.0, gt=0)
    data_key_cache_capacity: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=65_536, ge=1024)


_ENV_NAMES = {
    "table_name": "TABLE_NAME",
    "kms_key_arn": "KMS_KEY_ARN",
    "jwt_algorithm": "JWT_ALGORITHM",
    "jwt_secret_parameter": "JWT_SECRET_PARAMETER",
    "hmac_key_parameter": "HMAC_KEY_PARAMETER",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "jwt_jwks_url": "JWT_JWKS_URL",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "jwt_leeway_seconds": "JWT_LEEWAY_SECONDS",
    "jwt_secret_cache_seconds": "JWT_SECRET_CACHE_SECONDS",
    "api_key_cache_seconds": "API_KEY_CACHE_SECONDS",
    "data_key_cache_seconds": "DATA_KEY_CACHE_SECONDS",
    "data_key_cache_capacity": "DATA_KEY_CACHE_CAPACITY",
    "max_body_bytes": "MAX_BODY_BYTES",
}


def settings_from_environ(environ: dict[str, str]) -> Settings:
    """Build settings from an environment mapping; empty values count as unset."""
    values = {field: environ[name] for field, name in _ENV_NAMES.items() if environ.get(name)}
    return Settings.model_validate(values)


@cache
def get_settings() -> Settings:
    """The process's settings, parsed once. A missing TABLE_NAME or KMS_KEY_ARN fails loudly."""
    import os

    return settings_from_environ(dict(os.environ))
