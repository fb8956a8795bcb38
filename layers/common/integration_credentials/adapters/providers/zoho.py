"""Zoho: form POST to the data centre's accounts server; no new refresh token."""

from collections.abc import Mapping
from typing import Any

from ._base import Outcome, Provider, copy_strings, https_host, refresh_grant, string_field
from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

TOKEN_PATH = "/oauth/v2/token"
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


def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """From `accounts_server`, else `data_center`, else the domain of `api_domain` or the dsn, else .com."""
    server = string_field(metadata, "accounts_server", "accounts-server")
    if server is not None:
        host = https_host(server)
        if host is None or host not in ACCOUNTS_HOSTS.values():
            raise PermanentRefreshError(
                "invalid_accounts_server", "metadata accounts_server is not a Zoho accounts server"
            )
        return f"https://{host}{TOKEN_PATH}"
    data_center = string_field(metadata, "data_center", "data_centre", "dc")
    if data_center is not None:
        centre = _data_centre_of_name(data_center)
        if centre is None:
            raise PermanentRefreshError(
                "unknown_data_center", "metadata data_center names no known Zoho data centre"
            )
        return f"https://{ACCOUNTS_HOSTS[centre]}{TOKEN_PATH}"
    for candidate in (string_field(metadata, "api_domain"), dsn):
        centre = _data_centre_of_host(https_host(candidate))
        if centre is not None:
            return f"https://{ACCOUNTS_HOSTS[centre]}{TOKEN_PATH}"
    return f"https://{ACCOUNTS_HOSTS['com']}{TOKEN_PATH}"


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, refresh_token: str, dsn: str | None
) -> TokenRequest:
    """A form body. Zoho's refresh example puts the parameters in the query string, but its token
    endpoint takes them in the body too (its own guides ask for the body "for security reasons"),
    and a query string ends up in proxy and server logs with the client secret in it."""
    return TokenRequest(url=url, form=refresh_grant(client, refresh_token))


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


PROVIDER = Provider("zoho", default_token_url, build_request, metadata_updates, classify)
