"""Zoho: form POST to the data centre's accounts server; no new refresh token.

Connect: `{accounts server}/oauth/v2/auth` (accounts.zoho.com serves every data centre's users when
the client has Multi DC enabled) with a comma-separated `scope` (`DEFAULT_SCOPES`:
`ZohoCRM.modules.ALL` for the records, `ZohoCRM.org.READ` for the identity call below),
`access_type=offline` (else no refresh token) and `prompt=consent` (else a
refresh token only at the first consent), and PKCE S256 (required for mobile and desktop clients,
optional and recommended for server-based ones). The callback names the user's `accounts-server`,
where the code (valid 2 minutes) is exchanged; it must be one of `ACCOUNTS_HOSTS`.

Identity: `GET {api_domain}/crm/v8/org` with `Authorization: Zoho-oauthtoken <token>` (scope
`ZohoCRM.org.READ`): the org is `org[0].id`, named by `company_name`. A 401 `OAUTH_SCOPE_MISMATCH`
refuses the call for a missing scope, not the token. Revocation: `POST {accounts
server}/oauth/v2/token/revoke?token=<token>` (the token as a query parameter, as documented; a
refresh token revokes its access tokens); `{"status": "success"}`, or 400 for an invalid token.
"""

from collections.abc import Mapping
from typing import Any

from ...core.models import Account
from ._base import (
    Authorization,
    IdentityCall,
    Outcome,
    Provider,
    Revocation,
    account_of,
    client_form,
    copy_strings,
    fixed_scopes,
    https_host,
    not_identifiable,
    string_field,
)
from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

TOKEN_PATH = "/oauth/v2/token"
AUTHORIZE_PATH = "/oauth/v2/auth"
REVOKE_PATH = "/oauth/v2/token/revoke"
CRM_API_VERSION = "v8"
ORG_PATH = f"/crm/{CRM_API_VERSION}/org"
DEFAULT_SCOPES = ("ZohoCRM.modules.ALL", "ZohoCRM.org.READ")
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
# Data centre -> API host (the `api_domain` a token response names).
API_HOSTS = {
    "com": "www.zohoapis.com",
    "eu": "www.zohoapis.eu",
    "in": "www.zohoapis.in",
    "com.au": "www.zohoapis.com.au",
    "jp": "www.zohoapis.jp",
    "com.cn": "www.zohoapis.com.cn",
    "zohocloud.ca": "www.zohoapis.ca",
    "sa": "www.zohoapis.sa",
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


def identity_base(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`api_domain` (one of `API_HOSTS`), else the API host of the accounts server's data centre."""
    domain = string_field(metadata, "api_domain")
    if domain is not None:
        host = https_host(domain)
        if host is None or host not in API_HOSTS.values():
            raise not_identifiable("invalid_api_domain", "metadata api_domain is not a Zoho API host")
        return f"https://{host}"
    accounts = accounts_host(metadata, dsn)
    centre = next(centre for centre, host in ACCOUNTS_HOSTS.items() if host == accounts)
    return f"https://{API_HOSTS[centre]}"


def identity_request(
    base: str, metadata: Mapping[str, Any], token: str, client: OAuthClient | None
) -> TokenRequest:
    """`GET {base}/crm/v8/org`, `Authorization: Zoho-oauthtoken <token>`."""
    return TokenRequest(
        url=base + ORG_PATH,
        method="GET",
        headers={"Authorization": f"Zoho-oauthtoken {token}"},
        endpoint="identity endpoint",
    )


def identity_account(body: Mapping[str, Any]) -> Account | None:
    """The first `org`'s `id`, named by `company_name` (else `domain_name`)."""
    orgs = body.get("org")
    if not isinstance(orgs, list) or not orgs or not isinstance(orgs[0], Mapping):
        return None
    org = orgs[0]
    name = org.get("company_name") if isinstance(org.get("company_name"), str) else org.get("domain_name")
    return account_of(org.get("id"), name=name)


def scope_refusal(status: int, body: Mapping[str, Any] | None) -> bool:
    """401 `OAUTH_SCOPE_MISMATCH`: the token lacks ZohoCRM.org.READ, it is not refused."""
    return body is not None and body.get("code") == "OAUTH_SCOPE_MISMATCH"


def revoke_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`{accounts_host}/oauth/v2/token/revoke`."""
    return f"https://{accounts_host(metadata, dsn)}{REVOKE_PATH}"


def revoke_request(
    url: str, metadata: Mapping[str, Any], token: str, token_kind: str, client: OAuthClient | None
) -> TokenRequest:
    """POST with the token as the `token` query parameter and an empty body."""
    return TokenRequest(url=url, query={"token": token}, endpoint="revocation endpoint")


def already_invalid(status: int, code: str) -> bool:
    """Zoho answers 400 for a token that is not valid (an HTTP 200 `invalid_token`/`invalid_code`
    error body is read the same way)."""
    return status == 400 or code in ("invalid_token", "invalid_code")


IDENTITY = IdentityCall(identity_base, identity_request, identity_account, scope_refusal)
REVOCATION = Revocation(revoke_url, revoke_request, already_invalid)
AUTHORIZATION = Authorization(
    authorize_endpoint,
    fixed_scopes(*DEFAULT_SCOPES),
    scope_separator=",",
    params=(("response_type", "code"), ("access_type", "offline"), ("prompt", "consent")),
    pkce=True,
    callback_server="accounts_server",
)
PROVIDER = Provider("zoho", default_token_url, client_form, metadata_updates, classify, AUTHORIZATION)
