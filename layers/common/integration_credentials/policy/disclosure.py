"""What a response may show a caller that may not read credentials.

A caller with `credentials:read` sees the whole object. Any other caller (a write-only key, a
refresh-only key) sees the non-secret fields and at most what it sent in this very request:
a create or an update echoes the `access_token` and the non-secret `metadata` it was given, and a
refresh hands a refresh-only caller the new `access_token` (what a sync job refreshing on a CRM
401 needs). Secret-bearing metadata keys (`refresh_token`, `client_secret`, `api_token`,
`password`, ...) never reach such a caller, not even as an echo.
"""

import re
from collections.abc import Mapping
from typing import Any, Final

# Fields of the public object that hold no secret (the rest: access_token, metadata).
NON_SECRET_FIELDS: Final = (
    "id",
    "org_id",
    "provider",
    "dsn",
    "created_at",
    "updated_at",
    "status",
    "expires_at",
    "last_refreshed_at",
    "last_error",
    "account",
    "verified_at",
)

# A metadata key names a secret when any of these occurs in it (case-insensitive, separators
# ignored): refresh_token, client_secret, api_token, apiKey, password, private_key, id_token,
# client_assertion, ... A false positive only withholds a value from a caller that may not read.
_SECRET_KEY = re.compile(r"token|secret|passw|passphrase|apikey|privatekey|credential|assertion|signature")
_SEPARATORS = re.compile(r"[^a-z0-9]")

# How much of the stored secret a response carried, as the audit record names it.
DISCLOSED_SECRETS: Final = "secrets"  # stored secrets the caller did not send in this request
DISCLOSED_ECHO: Final = "echo"  # only what the caller sent
DISCLOSED_NONE: Final = "none"  # non-secret fields only


def is_secret_key(name: str) -> bool:
    """Whether a metadata key holds a secret (`refresh_token`, `clientSecret`, `api-key`, ...)."""
    return bool(_SECRET_KEY.search(_SEPARATORS.sub("", name.lower())))


def without_secrets(value: Any) -> Any:
    """`value` with every secret-named key removed, at any depth (objects inside arrays too)."""
    if isinstance(value, Mapping):
        return {key: without_secrets(item) for key, item in value.items() if not is_secret_key(key)}
    if isinstance(value, list):
        return [without_secrets(item) for item in value]
    return value


def _without_nulls(patch: Mapping[str, Any]) -> dict[str, Any]:
    # A merge patch's nulls remove keys: what the caller sent that is now stored is the rest.
    return {
        key: _without_nulls(value) if isinstance(value, Mapping) else value
        for key, value in patch.items()
        if value is not None
    }


def restricted_view(
    body: Mapping[str, Any],
    *,
    sent_access_token: bool = False,
    sent_metadata: Mapping[str, Any] | None = None,
    new_access_token: bool = False,
) -> dict[str, Any]:
    """The object a caller without `credentials:read` gets: the non-secret fields; the
    `access_token` only when this request sent it (`sent_access_token`) or a refresh made it
    (`new_access_token`); `metadata` as the non-secret part of what this request sent (a merge
    patch's removals left out), else `{}`."""
    view: dict[str, Any] = {}
    for name, value in body.items():
        if name in NON_SECRET_FIELDS or (name == "access_token" and (sent_access_token or new_access_token)):
            view[name] = value
        elif name == "metadata":
            view[name] = without_secrets(_without_nulls(sent_metadata or {}))
    return view
