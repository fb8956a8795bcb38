"""Settings parsed once from the environment (names match template.yaml's Globals)."""

import json
import urllib.parse
from functools import cache
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .constants import ALL_SCOPES

# Where a JWKS may be fetched over plain HTTP: this machine only (tests, `make run`).
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class Settings(BaseModel):
    """Runtime configuration of the functions and the admin CLI."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(min_length=1)
    kms_key_arn: str = Field(min_length=1)
    # The API keys' own table: the functions may only read it (only the API functions need it).
    api_keys_table_name: str | None = None
    jwt_algorithm: Literal["HS256", "RS256"] = "HS256"
    jwt_secret_parameter: str | None = None
    hmac_key_parameter: str | None = None
    idempotency_table_name: str | None = None
    jwt_jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway_seconds: int = Field(default=30, ge=0)
    # With it, a token must carry `iat` and be at most this old.
    jwt_max_age_seconds: int | None = Field(default=None, ge=1)
    jwt_secret_cache_seconds: int = Field(default=300, ge=0)
    # How long a fetched JWKS is trusted: a key removed from the set is refused once it expires.
    jwt_jwks_cache_seconds: int = Field(default=300, ge=1)
    # What a token without a `scope` (or `scp`) claim may do: space- or comma-separated scopes.
    jwt_default_scopes: frozenset[str] = ALL_SCOPES
    api_key_cache_seconds: int = Field(default=60, ge=0)
    # Unknown key hashes are remembered this long, so a flood of made-up keys costs one read each.
    api_key_negative_cache_seconds: int = Field(default=10, ge=0)
    data_key_cache_seconds: float = Field(default=300.0, gt=0)
    data_key_cache_capacity: int = Field(default=1000, ge=1)
    max_body_bytes: int = Field(default=65_536, ge=1024)
    # Bounds the work of a cold list (one KMS call per credential) and of an org's partition.
    max_credentials_per_org: int = Field(default=100, ge=1)
    # OAuth token refresh: where the OAuth apps' client credentials live, where events go,
    # and how far ahead of expiry, how often and how patiently tokens are refreshed.
    oauth_client_parameter_prefix: str | None = None
    oauth_client_cache_seconds: int = Field(default=300, ge=0)
    event_bus_name: str = "default"
    refresh_queue_url: str | None = None
    refresh_margin_seconds: int = Field(default=900, ge=0)
    refresh_lease_seconds: int = Field(default=60, ge=5)
    # The provider call's total deadline, and what storing its tokens may take after it (KMS data
    # key, the conditional write and its retries): together, the time a refresh needs left.
    refresh_http_timeout_seconds: float = Field(default=10.0, gt=0)
    refresh_write_budget_seconds: float = Field(default=5.0, gt=0)
    refresh_wait_seconds: float = Field(default=10.0, ge=0)
    refresh_min_interval_seconds: int = Field(default=10, ge=0)
    refresh_backoff_base_seconds: int = Field(default=60, ge=1)
    refresh_backoff_cap_seconds: int = Field(default=3600, ge=1)
    refresh_batch_limit: int = Field(default=5000, ge=1)
    # How many records of an SQS batch the worker refreshes at once (each waits on its provider).
    refresh_worker_concurrency: int = Field(default=10, ge=1, le=100)
    # Per provider, merged over the defaults in policy/schedule.py: {"salesforce": 7200}.
    access_token_lifetimes: dict[str, int] = Field(default_factory=dict)
    refresh_provider_limits: dict[str, int] = Field(default_factory=dict)
    # The OAuth connect flow: its single-use states' table and lifetime, the return URLs it may
    # send a browser back to (origins or prefixes, comma-separated; a port may be `*`), and the
    # callback URL registered at the providers (empty: this API's own, from the request).
    connect_states_table_name: str | None = None
    connect_state_ttl_seconds: int = Field(default=600, ge=1, le=3600)
    connect_return_urls: str | None = None
    oauth_callback_url: str | None = None
    # Connect links an org may have in progress (neither used nor expired) at once; at most 100
    # (one strongly consistent BatchGetItem reads them all).
    max_connect_states_per_org: int = Field(default=20, ge=1, le=100)
    # SSM SecureString with the key that signs the result the callback sends back to the return
    # URL (HS256): the platform's return page verifies it with the same key.
    connect_result_key_parameter: str | None = None

    @field_validator("jwt_default_scopes", mode="before")
    @classmethod
    def _scope_names(cls, value: object) -> object:
        if isinstance(value, str):
            value = frozenset(value.replace(",", " ").split())
        if isinstance(value, frozenset | set | list | tuple):
            unknown = sorted(str(name) for name in value if name not in ALL_SCOPES)
            if unknown:
                raise ValueError(f"JWT_DEFAULT_SCOPES names unknown scopes: {', '.join(unknown)}")
            if not value:
                raise ValueError("JWT_DEFAULT_SCOPES names no scope")
        return value

    @model_validator(mode="after")
    def _rs256_is_pinned(self) -> Self:
        # RS256 trusts an identity provider that signs tokens for other applications too: only
        # its tokens for this issuer and this audience, fetched over TLS, may name an org.
        if self.jwt_algorithm != "RS256":
            return self
        missing = [
            name
            for name, value in (
                ("JWT_JWKS_URL", self.jwt_jwks_url),
                ("JWT_ISSUER", self.jwt_issuer),
                ("JWT_AUDIENCE", self.jwt_audience),
            )
            if not value
        ]
        if missing:
            raise ValueError(
                f"JWT_ALGORITHM=RS256 needs {', '.join(missing)} (set in template.yaml parameters)"
            )
        url = urllib.parse.urlsplit(str(self.jwt_jwks_url))
        if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS):
            raise ValueError("JWT_JWKS_URL must be an https:// URL")
        return self


_ENV_NAMES = {
    "table_name": "TABLE_NAME",
    "kms_key_arn": "KMS_KEY_ARN",
    "api_keys_table_name": "API_KEYS_TABLE_NAME",
    "jwt_algorithm": "JWT_ALGORITHM",
    "jwt_secret_parameter": "JWT_SECRET_PARAMETER",
    "hmac_key_parameter": "HMAC_KEY_PARAMETER",
    "idempotency_table_name": "IDEMPOTENCY_TABLE_NAME",
    "jwt_jwks_url": "JWT_JWKS_URL",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "jwt_leeway_seconds": "JWT_LEEWAY_SECONDS",
    "jwt_max_age_seconds": "JWT_MAX_AGE_SECONDS",
    "jwt_secret_cache_seconds": "JWT_SECRET_CACHE_SECONDS",
    "jwt_jwks_cache_seconds": "JWT_JWKS_CACHE_SECONDS",
    "jwt_default_scopes": "JWT_DEFAULT_SCOPES",
    "api_key_cache_seconds": "API_KEY_CACHE_SECONDS",
    "api_key_negative_cache_seconds": "API_KEY_NEGATIVE_CACHE_SECONDS",
    "data_key_cache_seconds": "DATA_KEY_CACHE_SECONDS",
    "data_key_cache_capacity": "DATA_KEY_CACHE_CAPACITY",
    "max_body_bytes": "MAX_BODY_BYTES",
    "max_credentials_per_org": "MAX_CREDENTIALS_PER_ORG",
    "oauth_client_parameter_prefix": "OAUTH_CLIENT_PARAMETER_PREFIX",
    "oauth_client_cache_seconds": "OAUTH_CLIENT_CACHE_SECONDS",
    "event_bus_name": "EVENT_BUS_NAME",
    "refresh_queue_url": "REFRESH_QUEUE_URL",
    "refresh_margin_seconds": "REFRESH_MARGIN_SECONDS",
    "refresh_lease_seconds": "REFRESH_LEASE_SECONDS",
    "refresh_http_timeout_seconds": "REFRESH_HTTP_TIMEOUT_SECONDS",
    "refresh_write_budget_seconds": "REFRESH_WRITE_BUDGET_SECONDS",
    "refresh_wait_seconds": "REFRESH_WAIT_SECONDS",
    "refresh_min_interval_seconds": "REFRESH_MIN_INTERVAL_SECONDS",
    "refresh_backoff_base_seconds": "REFRESH_BACKOFF_BASE_SECONDS",
    "refresh_backoff_cap_seconds": "REFRESH_BACKOFF_CAP_SECONDS",
    "refresh_batch_limit": "REFRESH_BATCH_LIMIT",
    "refresh_worker_concurrency": "REFRESH_WORKER_CONCURRENCY",
    "access_token_lifetimes": "ACCESS_TOKEN_LIFETIME_SECONDS",
    "refresh_provider_limits": "REFRESH_PROVIDER_LIMITS",
    "connect_states_table_name": "CONNECT_STATES_TABLE_NAME",
    "connect_state_ttl_seconds": "CONNECT_STATE_TTL_SECONDS",
    "connect_return_urls": "CONNECT_RETURN_URLS",
    "oauth_callback_url": "OAUTH_CALLBACK_URL",
    "max_connect_states_per_org": "MAX_CONNECT_STATES_PER_ORG",
    "connect_result_key_parameter": "CONNECT_RESULT_KEY_PARAMETER",
}
_JSON_FIELDS = frozenset({"access_token_lifetimes", "refresh_provider_limits"})


def settings_from_environ(environ: dict[str, str]) -> Settings:
    """Build settings from an environment mapping; empty values count as unset."""
    values: dict[str, object] = {
        field: environ[name] for field, name in _ENV_NAMES.items() if environ.get(name)
    }
    for field in _JSON_FIELDS & values.keys():
        values[field] = json.loads(str(values[field]))
    return Settings.model_validate(values)


@cache
def get_settings() -> Settings:
    """The process's settings, parsed once. A missing TABLE_NAME or KMS_KEY_ARN fails loudly."""
    import os

    return settings_from_environ(dict(os.environ))
