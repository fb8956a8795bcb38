"""Salesforce: form POST to the login host or the org's My Domain; no `expires_in` in the response.

Connect: the web server flow at the same host's `/services/oauth2/authorize` (`response_type=code`,
PKCE S256 supported), scopes `DEFAULT_SCOPES` (`api refresh_token id`: REST API access, a refresh
token, and the identity URL service that the identity call below needs: Salesforce Help, "OAuth
Tokens and Scopes", `id`) unless the caller names others; the code exchange goes to the same
host's token endpoint.

Identity: `GET {instance_url, else the login host}/services/oauth2/userinfo` with the access token
as a bearer token (OpenID Connect UserInfo): the org is `organization_id`, the user `user_id`.
Revocation: a form POST of `token` to the login host's `/services/oauth2/revoke` (a refresh token
revokes its access tokens too); 200 on success, 400 `invalid_token` for a token already invalid.
"""

import re
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
    bearer,
    client_form,
    copy_strings,
    fixed_scopes,
    https_host,
    string_field,
)
from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

DEFAULT_LOGIN_HOST = "login.salesforce.com"
TOKEN_PATH = "/services/oauth2/token"
AUTHORIZE_PATH = "/services/oauth2/authorize"
USERINFO_PATH = "/services/oauth2/userinfo"
REVOKE_PATH = "/services/oauth2/revoke"
DEFAULT_SCOPES = ("api", "refresh_token", "id")
# Hosts a stored `login_url` may name: the client secret is sent there, so only Salesforce's login
# hosts and My Domain hosts. My Domain's sandbox (`--x.sandbox.my.salesforce.com`), Developer
# Edition (`.develop.`), scratch and Trailhead hosts all end in `.my.salesforce.com`; Government
# Cloud Plus uses `.my.salesforce.mil`, Salesforce on Alibaba Cloud `.my.sfcrmproducts.cn`.
# Other `*.force.com` and `*.salesforce.com` hosts (Visualforce, Experience sites) are refused.
_LOGIN_HOSTS = frozenset({"login.salesforce.com", "test.salesforce.com"})
_MY_DOMAIN_SUFFIXES = (".my.salesforce.com", ".my.salesforce.mil", ".my.sfcrmproducts.cn")
# An org's instance (where the access token goes): a My Domain or an older instance host
# (`na1.salesforce.com`); anything else is replaced by the login host.
_INSTANCE_SUFFIXES = (".salesforce.com", ".salesforce.mil", ".sfcrmproducts.cn")
# A plain DNS host name: labels of a-z, 0-9 and inner hyphens (a sandbox's `--` included), none
# empty, none starting or ending with a hyphen. The URL parser keeps `\`, `%` and `_` in a host:
# such a "host" could be resolved or re-parsed as another one, so it is never a login host.
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")


def is_my_domain(host: str) -> bool:
    """Whether `host` (lowercase) is a plain host name under a My Domain suffix."""
    return host.endswith(_MY_DOMAIN_SUFFIXES) and _HOST_NAME.fullmatch(host) is not None


def _is_login_host(host: str) -> bool:
    return host in _LOGIN_HOSTS or is_my_domain(host)


def login_host(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`login_url` if set, else the My Domain of `instance_url` (or the dsn), else login.salesforce.com."""
    login_url = string_field(metadata, "login_url")
    if login_url is not None:
        host = https_host(login_url)
        if host is None or not _is_login_host(host):
            raise PermanentRefreshError(
                "invalid_login_url",
                "metadata login_url is not https://login.salesforce.com, test.salesforce.com or a My Domain",
            )
        return host
    for candidate in (string_field(metadata, "instance_url"), dsn):
        host = https_host(candidate)
        if host is not None and is_my_domain(host):
            return host
    return DEFAULT_LOGIN_HOST


def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`{login_host}/services/oauth2/token`."""
    return f"https://{login_host(metadata, dsn)}{TOKEN_PATH}"


def authorize_endpoint(metadata: Mapping[str, Any]) -> str:
    """`{login_host}/services/oauth2/authorize`: the host the code is then exchanged at."""
    return f"https://{login_host(metadata, None)}{AUTHORIZE_PATH}"


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """The org's current `instance_url`."""
    return copy_strings(body, "instance_url")


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`invalid_grant`: the refresh token is expired, revoked or its user inactive."""
    if code == "invalid_grant":
        return "reconnect", code
    return None


def identity_base(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """The org's `instance_url` when it is a Salesforce host, else the login host."""
    host = https_host(string_field(metadata, "instance_url"))
    if host is not None and host.endswith(_INSTANCE_SUFFIXES) and _HOST_NAME.fullmatch(host):
        return f"https://{host}"
    return f"https://{login_host(metadata, dsn)}"


def identity_request(
    base: str, metadata: Mapping[str, Any], token: str, client: OAuthClient | None
) -> TokenRequest:
    """`GET {base}/services/oauth2/userinfo`, Bearer."""
    return bearer(base + USERINFO_PATH, token)


def identity_account(body: Mapping[str, Any]) -> Account | None:
    """`organization_id` (the org), `user_id`."""
    return account_of(body.get("organization_id"), user=body.get("user_id"))


def revoke_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`{login_host}/services/oauth2/revoke`."""
    return f"https://{login_host(metadata, dsn)}{REVOKE_PATH}"


def revoke_request(
    url: str, metadata: Mapping[str, Any], token: str, token_kind: str, client: OAuthClient | None
) -> TokenRequest:
    """Form `token` (no client authentication)."""
    return TokenRequest(url=url, form={"token": token}, endpoint="revocation endpoint")


def already_invalid(status: int, code: str) -> bool:
    """400 `invalid_token`."""
    return status == 400 and code == "invalid_token"


def scope_refusal(status: int, body: Mapping[str, Any] | None) -> bool:
    """A 403 that names a scope (`insufficient_scope`): the token lacks `id` (the identity URL
    service), which says nothing about whether the grant is alive."""
    if status != 403 or body is None:
        return False
    code = body.get("error") or body.get("errorCode") or ""
    return isinstance(code, str) and "scope" in code.lower()


IDENTITY = IdentityCall(identity_base, identity_request, identity_account, scope_refusal)
REVOCATION = Revocation(revoke_url, revoke_request, already_invalid)
AUTHORIZATION = Authorization(
    authorize_endpoint, fixed_scopes(*DEFAULT_SCOPES), params=(("response_type", "code"),), pkce=True
)
PROVIDER = Provider("salesforce", default_token_url, client_form, metadata_updates, classify, AUTHORIZATION)
