"""Settings parsed once from the environment, and what each function needs of them at init.

A setting's environment variable is its field's name in upper case (`table_name`: TABLE_NAME);
its type is the field's annotation and its description and bounds are on the field
(`setting(...)`), and docs/configuration.md is generated from them (`make configuration`).

Not a pydantic model: every function validates its settings at init, and building a model of
~45 fields (pydantic's schema generation, in Python) cost more instructions than the rest of our
code at a cold start. pydantic-core validates them all the same, from a schema written here from
the fields (`_schema`: the few types settings have), so the checks and their messages are
pydantic's.

Longer than 300 lines: each of the ~45 settings carries its bounds and its description here, the
one place they are written; the role table and the parsing are short.
"""

import json
import os
import types
import typing
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError
from functools import cache
from types import MappingProxyType
from typing import Any, Final, Literal, Self

from pydantic_core import SchemaValidator, ValidationError, core_schema

from .constants import ALL_SCOPES, REFRESH_SHARDS

# Where a JWKS may be fetched over plain HTTP: this machine only (tests, `make run`).
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(ValueError):
    """The environment does not configure what the process needs; the message names the
    environment variables (never their values)."""


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Final = _Required()


class Setting:
    """One field of `Settings`: its type (the annotation), default, bounds and description."""

    __slots__ = (
        "annotation",
        "before",
        "default",
        "default_factory",
        "description",
        "ge",
        "gt",
        "le",
        "min_length",
        "name",
    )

    def __init__(
        self,
        default: object,
        default_factory: Callable[[], object] | None,
        description: str,
        bounds: tuple[float | None, float | None, float | None, int | None],
        before: Callable[[object], object] | None,
    ) -> None:
        self.default, self.default_factory, self.description, self.before = (
            default,
            default_factory,
            description,
            before,
        )
        self.ge, self.gt, self.le, self.min_length = bounds
        self.name = ""
        self.annotation: object = None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @property
    def required(self) -> bool:
        """Whether the environment must set it."""
        return self.default is REQUIRED and self.default_factory is None

    def get_default(self) -> object:
        """The value when unset (a fresh one from the factory)."""
        return self.default_factory() if self.default_factory is not None else self.default


def setting(
    default: object = REQUIRED,
    *,
    description: str,
    default_factory: Callable[[], object] | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    min_length: int | None = None,
    before: Callable[[object], object] | None = None,
) -> Any:
    """A field of `Settings` (typed `Any`, as pydantic's `Field`, so it can stand for any value's
    default): `before` converts the environment's text first."""
    return Setting(default, default_factory, description, (ge, gt, le, min_length), before)


def _scope_names(value: object) -> object:
    if isinstance(value, str):
        value = frozenset(value.replace(",", " ").split())
    if isinstance(value, frozenset | set | list | tuple):
        unknown = sorted(str(name) for name in value if name not in ALL_SCOPES)
        if unknown:
            raise ValueError(f"JWT_DEFAULT_SCOPES names unknown scopes: {', '.join(unknown)}")
        if not value:
            raise ValueError("JWT_DEFAULT_SCOPES names no scope")
    return value


def _json_object(value: object) -> object:
    # From the environment these are JSON text; in code, already a mapping.
    return json.loads(value) if isinstance(value, str) else value


class Settings:
    """Runtime configuration of the functions and the admin CLI: immutable, each field validated
    (`validate`, or keyword arguments); `FIELDS` describes them."""

    # ---- the stack's resources
    table_name: str = setting(min_length=1, description="The credentials table (DynamoDB).")
    kms_key_arn: str = setting(
        min_length=1, description="The KMS key that encrypts the credentials (AWS Encryption SDK)."
    )
    api_keys_table_name: str | None = setting(
        default=None,
        description="The API keys' own table: the functions may only read it (the API functions need it).",
    )
    idempotency_table_name: str | None = setting(
        default=None, description="Powertools idempotency records of the create route (`Idempotency-Key`)."
    )
    hmac_key_parameter: str | None = setting(
        default=None,
        description=(
            "SSM SecureString with the service's HMAC key: idempotency and audit records identify "
            "keys, tokens and bodies by HMAC, never by value."
        ),
    )
    event_bus_name: str = setting(
        default="default", description="EventBridge bus that receives credentials events."
    )
    # ---- authentication
    jwt_algorithm: Literal["HS256", "RS256"] = setting(
        default="HS256",
        description="How bearer tokens are signed: `HS256` (a shared secret) or `RS256` (a JWKS).",
    )
    jwt_secret_parameter: str | None = setting(
        default=None, description="SSM SecureString with the HS256 secret of bearer tokens."
    )
    jwt_jwks_url: str | None = setting(
        default=None, description="The identity provider's key set for RS256 tokens (`https://`)."
    )
    jwt_issuer: str | None = setting(
        default=None,
        description=(
            "The `iss` every bearer token must carry. Without it (or JWT_AUDIENCE) every token is "
            "refused as a misconfiguration (500); API keys keep working."
        ),
    )
    jwt_audience: str | None = setting(
        default=None, description="The `aud` every bearer token must carry (one of its audiences)."
    )
    jwt_leeway_seconds: int = setting(
        default=30, ge=0, description="Clock skew allowed when checking a token's `exp`, `nbf` and `iat`."
    )
    jwt_max_age_seconds: int | None = setting(
        default=None, ge=1, description="With it, a token must carry `iat` and be at most this old."
    )
    jwt_secret_cache_seconds: int = setting(
        default=300,
        ge=0,
        description=(
            "How long SSM SecureStrings (the JWT secret, the HMAC key, the connect result key) are cached."
        ),
    )
    jwt_jwks_cache_seconds: int = setting(
        default=300,
        ge=1,
        description=(
            "How long a fetched JWKS is trusted: a key removed from the set is refused once it expires."
        ),
    )
    jwt_default_scopes: frozenset[str] = setting(
        default=ALL_SCOPES,
        before=_scope_names,
        description=(
            "What a token without a `scope` (or `scp`) claim may do: space- or comma-separated "
            "scopes (default: all three)."
        ),
    )
    api_key_cache_seconds: int = setting(
        default=60,
        ge=0,
        description="How long a warm instance trusts a read API key: the bound on revocation.",
    )
    api_key_negative_cache_seconds: int = setting(
        default=10,
        ge=0,
        description=(
            "Unknown key hashes are remembered this long, so a flood of made-up keys costs one read each."
        ),
    )
    # ---- requests and storage
    data_key_cache_seconds: float = setting(
        default=300.0, gt=0, description="How long a KMS data key (and a decrypted message) is reused."
    )
    data_key_cache_capacity: int = setting(
        default=1000, ge=1, description="Most data keys cached per instance."
    )
    max_body_bytes: int = setting(default=65_536, ge=1024, description="Request body limit (413 above it).")
    max_credentials_per_org: int = setting(
        default=100,
        ge=1,
        description=(
            "Most credentials an org may hold: bounds a cold list (one KMS call each) and an org's partition."
        ),
    )
    # ---- token refresh
    oauth_client_parameter_prefix: str | None = setting(
        default=None,
        description=(
            "SSM prefix of the OAuth apps' client credentials: a SecureString `<prefix><provider>` "
            'holding {"client_id", "client_secret"}, and the client id alone as a String '
            "`<prefix>client-id/<provider>` for the connect flow."
        ),
    )
    oauth_client_cache_seconds: int = setting(
        default=300, ge=0, description="How long the OAuth client parameters are cached."
    )
    refresh_queue_url: str | None = setting(
        default=None,
        description=(
            "The SQS queue the worker takes its work from: the credentials due for a refresh (the "
            "shard scanners') and the grants to revoke at the CRM (DELETE's)."
        ),
    )
    refresh_shard_queue_url: str | None = setting(
        default=None,
        description=(
            "The SQS FIFO queue the scheduler fills with a run's ranges of shards (one message, one "
            "shard scanner invocation each)."
        ),
    )
    refresh_shard_scanners: int = setting(
        default=16,
        ge=1,
        le=REFRESH_SHARDS,
        description=(
            "How many shard scanners a scheduler run starts: the refresh-due index's 64 shards split "
            "into this many ranges, each with its share of the run's limits."
        ),
    )
    revoke_delay_seconds: int = setting(
        default=15,
        ge=0,
        le=900,
        description=(
            "How long a revocation message waits in the refresh queue before the worker sees it "
            "(SQS DelaySeconds): longer than the delete function's timeout, so the worker finds the "
            "delete that sent it finished (or failed)."
        ),
    )
    refresh_margin_seconds: int = setting(
        default=900, ge=0, description="Refresh an access token this long before its `expires_at`."
    )
    refresh_lease_seconds: int = setting(
        default=60, ge=5, description="How long one refresh holds its credential's lease."
    )
    refresh_http_timeout_seconds: float = setting(
        default=10.0, gt=0, description="The provider token request's total deadline."
    )
    refresh_write_budget_seconds: float = setting(
        default=5.0,
        gt=0,
        description=(
            "What storing refreshed tokens may take after the provider call (KMS data key, the "
            "conditional write and its retries): with the HTTP deadline, the time a refresh needs left."
        ),
    )
    refresh_wait_seconds: float = setting(
        default=10.0, ge=0, description="An on-demand refresh waits this long for one already in flight."
    )
    refresh_min_interval_seconds: int = setting(
        default=10,
        ge=0,
        description="A refresh this recent is returned as it is, without asking the provider again.",
    )
    refresh_backoff_base_seconds: int = setting(
        default=60, ge=1, description="First wait after a transient refresh failure (doubles each time)."
    )
    refresh_backoff_cap_seconds: int = setting(
        default=3600, ge=1, description="Longest wait after transient refresh failures."
    )
    refresh_batch_limit: int = setting(
        default=5000,
        ge=1,
        description="Most credentials one scheduler run enqueues (its shard scanners together).",
    )
    refresh_worker_concurrency: int = setting(
        default=10,
        ge=1,
        le=100,
        description=(
            "How many records of an SQS batch the worker refreshes at once (each waits on its provider)."
        ),
    )
    access_token_lifetime_seconds: dict[str, int] = setting(
        default_factory=dict,
        before=_json_object,
        description=(
            'JSON, per provider (`{"salesforce": 7200}`): the access token lifetime assumed when '
            "neither the provider nor the client states one, merged over policy/schedule.py's defaults."
        ),
    )
    refresh_provider_limits: dict[str, int] = setting(
        default_factory=dict,
        before=_json_object,
        description=(
            "JSON, per provider: most credentials of that provider one scheduler run enqueues (its "
            "shard scanners together; 1000 each)."
        ),
    )
    verify_interval_seconds: int = setting(
        default=86400,
        ge=60,
        description=(
            "How often the scheduler verifies, against the CRM's identity call, the credentials no "
            "refresh touches (API keys, HubSpot private-app tokens, credentials without a "
            "refresh token); each at its own time in the period (a hash of its id), not all at once."
        ),
    )
    # ---- the OAuth connect flow
    connect_states_table_name: str | None = setting(
        default=None, description="The connect flow's single-use states (DynamoDB)."
    )
    connect_state_ttl_seconds: int = setting(
        default=600, ge=1, le=3600, description="How long a connect link (its state) may be used."
    )
    connect_return_urls: str | None = setting(
        default=None,
        description=(
            "Where the connect flow may send a browser back to: origins or prefixes, comma-separated "
            "(a port may be `*`). Empty: every `return_url` is refused."
        ),
    )
    oauth_callback_url: str | None = setting(
        default=None,
        description="The callback URL registered at the providers (empty: this API's own, from the request).",
    )
    max_connect_states_per_org: int = setting(
        default=20,
        ge=1,
        le=100,
        description=(
            "Connect links an org may have in progress (neither used nor expired) at once, then 429; "
            "at most 100 (one strongly consistent BatchGetItem reads them all)."
        ),
    )
    connect_result_key_parameter: str | None = setting(
        default=None,
        description=(
            "SSM SecureString (at least 32 bytes) with the key that signs the callback's "
            "`connect_result` (HS256), which the platform's return page verifies."
        ),
    )

    def __init__(self, **values: Any) -> None:
        """Settings of `values` (field names), validated: a pydantic-core `ValidationError`
        otherwise; unset fields take their defaults."""
        for name, value in _validator(frozenset(values)).validate_python(values).items():
            object.__setattr__(self, name, value)

    @classmethod
    def validate(cls, values: Mapping[str, object]) -> Self:
        """Settings of a mapping of field names to values (text or typed), validated."""
        return cls(**values)

    def replace(self, **changes: Any) -> Self:
        """These settings with `changes`, validated."""
        return self.__class__(**{**{name: getattr(self, name) for name in FIELDS}, **changes})

    def __setattr__(self, name: str, value: object) -> None:
        raise FrozenInstanceError(f"cannot assign to setting {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete setting {name!r}")


# Every field, in order, by name.
FIELDS: Final[Mapping[str, Setting]] = MappingProxyType(
    {name: field for name, field in vars(Settings).items() if isinstance(field, Setting)}
)
for _name, _annotation in Settings.__annotations__.items():
    FIELDS[_name].annotation = _annotation


def _schema(field: Setting) -> core_schema.CoreSchema:
    """pydantic-core's schema of one field: its type (a settings field's few kinds), bounds and
    before-validator, as pydantic would write them for the same annotation and `Field`."""
    annotation = field.annotation
    optional = isinstance(annotation, types.UnionType)
    if optional:
        (annotation,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
    schema: core_schema.CoreSchema
    if typing.get_origin(annotation) is Literal:
        schema = core_schema.literal_schema(list(typing.get_args(annotation)))
    elif typing.get_origin(annotation) is frozenset:
        schema = core_schema.frozenset_schema(core_schema.str_schema())
    elif typing.get_origin(annotation) is dict:
        schema = core_schema.dict_schema(core_schema.str_schema(), core_schema.int_schema())
    elif annotation is str:
        schema = core_schema.str_schema(min_length=field.min_length)
    elif annotation is int:
        schema = core_schema.int_schema(
            ge=None if field.ge is None else int(field.ge), le=None if field.le is None else int(field.le)
        )
    elif annotation is float:
        schema = core_schema.float_schema(ge=field.ge, gt=field.gt)
    else:
        raise TypeError(f"setting {field.name}: no schema for {annotation!r}")
    if optional:
        schema = core_schema.nullable_schema(schema)
    if field.before is not None:
        schema = core_schema.no_info_before_validator_function(field.before, schema)
    return schema


def _with_defaults(values: dict[str, Any]) -> dict[str, Any]:
    # The fields not given take their defaults, unvalidated (as pydantic's `validate_default`).
    for name, field in FIELDS.items():
        if name not in values:
            values[name] = field.get_default()
    return _rs256_is_pinned(values)


def _rs256_is_pinned(values: dict[str, Any]) -> dict[str, Any]:
    # RS256 trusts an identity provider that signs tokens for other applications too: only
    # its tokens for this issuer and this audience, fetched over TLS, may name an org.
    if values["jwt_algorithm"] != "RS256":
        return values
    missing = [env_name(name) for name in ("jwt_jwks_url", "jwt_issuer", "jwt_audience") if not values[name]]
    if missing:
        raise ValueError(f"JWT_ALGORITHM=RS256 needs {', '.join(missing)} (set in template.yaml parameters)")
    url = urllib.parse.urlsplit(str(values["jwt_jwks_url"]))
    if url.scheme != "https" and not (url.scheme == "http" and url.hostname in _LOOPBACK_HOSTS):
        raise ValueError("JWT_JWKS_URL must be an https:// URL")
    return values


@cache
def _validator(given: frozenset[str]) -> SchemaValidator:
    # Of the fields given and the required ones only: a function's environment sets a third of
    # them, and the schema of all costs its cold start more than validating them.
    fields = {
        name: core_schema.typed_dict_field(_schema(field), required=field.required)
        for name, field in FIELDS.items()
        if name in given or field.required
    }
    return SchemaValidator(
        core_schema.no_info_after_validator_function(
            _with_defaults, core_schema.typed_dict_schema(fields, extra_behavior="forbid")
        )
    )


def env_name(field: str) -> str:
    """The environment variable of a settings field: its name in upper case."""
    return field.upper()


def settings_from_environ(environ: Mapping[str, str]) -> Settings:
    """Build settings from an environment mapping; empty values count as unset. A
    `SettingsError` names each variable that is missing or invalid."""
    values = {field: environ[env_name(field)] for field in FIELDS if environ.get(env_name(field))}
    try:
        return Settings.validate(values)
    except ValidationError as error:
        # The variables and pydantic's reasons, never the values (`input` is left out).
        problems = [
            f"{env_name(str(detail['loc'][0])) if detail['loc'] else 'settings'}: {detail['msg']}"
            for detail in error.errors(include_url=False, include_input=False)
        ]
        raise SettingsError("invalid environment: " + "; ".join(problems)) from None


@cache
def get_settings() -> Settings:
    """The process's settings, parsed once. A missing TABLE_NAME or KMS_KEY_ARN fails loudly."""
    return settings_from_environ(os.environ)


# ---- what each function needs at init ------------------------------------------------------------

# TABLE_NAME and KMS_KEY_ARN every function needs (the model requires them). Beyond them, each
# role's table, queue and parameter names: a function checks its role's at init, so a missing one
# fails its cold start, naming the variable, instead of its first request. A role is an API
# function's `action` (`http.handler.make_handler`) or the name of one of the other functions.
_AUTHENTICATED = ("api_keys_table_name", "hmac_key_parameter", "jwt_secret_parameter")
_OAUTH = ("oauth_client_parameter_prefix",)
ROLE_SETTINGS: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "create": (*_AUTHENTICATED, "idempotency_table_name"),
        "list": _AUTHENTICATED,
        "get": _AUTHENTICATED,
        "get_by_provider": _AUTHENTICATED,
        "update": _AUTHENTICATED,
        # DELETE enqueues the revocation of the grant at the CRM.
        "delete": (*_AUTHENTICATED, "refresh_queue_url"),
        "refresh": (*_AUTHENTICATED, *_OAUTH),
        # Verifying may refresh once (a CRM 401 to an OAuth token).
        "verify": (*_AUTHENTICATED, *_OAUTH),
        "connect": (*_AUTHENTICATED, "connect_states_table_name", *_OAUTH),
        "connect_callback": (
            "hmac_key_parameter",
            "connect_states_table_name",
            "connect_result_key_parameter",
            *_OAUTH,
        ),
        "refresh_scheduler": ("refresh_shard_queue_url",),
        "refresh_shard_scanner": ("refresh_queue_url",),
        "refresh_worker": _OAUTH,
    }
)
# Settings a role needs only under another setting's value: (when, as the docs say it; the test).
CONDITIONS: Final[Mapping[str, tuple[str, Callable[[Settings], bool]]]] = MappingProxyType(
    {"jwt_secret_parameter": ("with JWT_ALGORITHM=HS256", lambda settings: settings.jwt_algorithm == "HS256")}
)


def require_settings(role: str) -> Settings:
    """The process's settings, checked for what `role` needs (`ROLE_SETTINGS`): a
    `SettingsError` naming every missing variable otherwise. Called at init (module import)."""
    settings = get_settings()
    missing = [
        env_name(field)
        for field in ROLE_SETTINGS[role]
        if not getattr(settings, field) and (field not in CONDITIONS or CONDITIONS[field][1](settings))
    ]
    if missing:
        raise SettingsError(f"{role} needs {', '.join(missing)}: not set in its environment")
    return settings
