"""Zoho: form POST to the data centre's accounts server; no new refresh token.

Connect: `{accounts server}/oauth/v2/auth` (accounts.zoho.com serves every data centre's users when
the client has Multi DC enabled) with a comma-separated `scope` (`DEFAULT_SCOPES`:
`ZohoCRM.modules.ALL`), `access_type=offline` (else no refresh token) and `prompt=consent` (else a
refresh token only at the first consent), and PKCE S256 (required for mobile and desktop clients,
optional and recommended for server-based ones). The callback names the user's `accounts-server`,
where the code (valid 2 minutes) is exchanged; it must be one of `ACCOUNTS_HOSTS`.
"""

from collections.abc import Mapping
from typing import Any

from ._base import (
    Authorization,
    Outcome,
    Provider,
    client_form,
    copy_strings,
    fixed_scopes,
    https_host,
    string_field,
)
from .errors import PermanentRefreshError

TOKEN_PATH = "/oauth/v2/token"
AUTHORIZE_PATH = "/oauth/v2/auth"
DEFAULT_SCOPES = ("ZohoCRM.modules.ALL",)
# Data centre (domain suffix) -> accounts server host.
ACCOUNTS_HOSTS = {
    "com": "accounts.zoho.com",
    "eu": "accounts.zoho.eu",
    "in": "accounts.zoho.in",
    "com.au": "accounts.zoho.com.au",
    "jp": "accounts.zoho.jp",
    "com.cn": "accounts.zoho.com.cn",
    "zohocloud.ca": "accounts.zohocloud.ca",
    "sa": "accounts.zoho.sa",
}
_ALIASES = {"us": "com", "au": "com.au", "cn": "com.cn", "ca": "zohocloud.ca"}
# Host suffixes of Zoho URLs (accounts, API, CRM) -> data centre, longest first.
_HOST_SUFFIXES = (
    (".zohocloud.ca", "zohocloud.ca"),
    (".zohoapis.ca", "zohocloud.ca"),
    (".com.au", "com.au"),
    (".com.cn", "com.cn"),
    (".com", "com"),
    (".eu", "eu"),
    (".in", "in"),
    (".jp", "jp"),
    (".sa", "sa"),
)


def _data_centre_of_host(host: str | None) -> str | None:
    if host is None or "zoho" not in host:
        return None
    for suffix, centre in _HOST_SUFFIXES:
        if host.endswith(suffix):
            return centre
    return None


def _data_centre_of_name(value: str) -> str | None:
    name = value.strip().lower().lstrip(".")
    for prefix in ("zoho.", "zohoapis."):
        if name.startswith(prefix):
            name = name[len(prefix) :]
    if name == "ca" or name == "zohocloud.ca":
        return "zohocloud.ca"
    name = _ALIASES.get(name, name)
    return name if name in ACCOUNTS_HOSTS else None


def accounts_host(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """From `accounts_server`, else `data_center`, else the domain of `api_domain` or the dsn, else .com."""
    server = string_field(metadata, "accounts_server", "accounts-server")
    if server is not None:
        host = https_host(server)
        if host is None or host not in ACCOUNTS_HOSTS.values():
            raise PermanentRefreshError(
                "invalid_accounts_server", "metadata accounts_server is not a Zoho accounts server"
            )
        return host
    data_center = string_field(metadata, "data_center", "data_centre", "dc")
    if data_center is not None:
        centre = _data_centre_of_name(data_center)
        if centre is None:
            raise PermanentRefreshError(
                "unknown_data_center", "metadata data_center names no known Zoho data centre"
            )
        return ACCOUNTS_HOSTS[centre]
    for candidate in (string_field(metadata, "api_domain"), dsn):
        centre = _data_centre_of_host(https_host(candidate))
        if centre is not None:
            return ACCOUNTS_HOSTS[centre]
    return ACCOUNTS_HOSTS["com"]


def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`{accounts_host}/oauth/v2/token`."""
    return f"https://{accounts_host(metadata, dsn)}{TOKEN_PATH}"


def authorize_endpoint(metadata: Mapping[str, Any]) -> str:
    """`{accounts_host}/oauth/v2/auth`: accounts.zoho.com unless the metadata names a data centre."""
    return f"https://{accounts_host(metadata, None)}{AUTHORIZE_PATH}"


# The refresh and code grants go in a form body (`client_form`). Zoho's examples put the parameters
# in the query string, but its token endpoint takes them in the body too (its own guides ask for the
# body "for security reasons"), and a query string ends up in proxy and server logs with the client
# secret in it.


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """The data centre's API base URL."""
    return copy_strings(body, "api_domain")


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`invalid_code` is a dead refresh token; "too many requests" (Access Denied) is a rate limit."""
    if code == "invalid_code":
        return "reconnect", code
    if "too many requests" in description.lower():
        return "transient", "rate_limited"
    return None


AUTHORIZATION = Authorization(
    authorize_endpoint,
    fixed_scopes(*DEFAULT_SCOPES),
    scope_separator=",",
    params=(("response_type", "code"), ("access_type", "offline"), ("prompt", "consent")),
    pkce=True,
    callback_server="accounts_server",
)
PROVIDER = Provider("zoho", default_token_url, client_form, metadata_updates, classify, AUTHORIZATION)
