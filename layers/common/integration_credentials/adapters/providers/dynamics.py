"""Dynamics 365: Microsoft identity platform v2.0 with the org's `.default` scope; rotates tokens.

Connect: `https://login.microsoftonline.com/{tenant_id, else organizations}/oauth2/v2.0/authorize`
with `response_mode=query`, PKCE S256 (Microsoft recommends it for confidential web apps too) and
the scopes `https://{org}/user_impersonation offline_access openid` (`DEFAULT_PERMISSION` on the
org from `instance_url`, a refresh token, and an ID token whose `tid` claim names the tenant, which
refresh needs when the user signed in through `organizations`). The code exchange goes to the same
tenant's token endpoint and repeats the scope.

Identity: the Dataverse Web API's `WhoAmI` function, `GET {instance_url}/api/data/v9.2/WhoAmI`
(Bearer, OData 4.0): the organization is `OrganizationId`, the user `UserId`. No revocation:
Microsoft Entra ID has no per-token revocation endpoint (only revoking all of a user's sessions
through Microsoft Graph, which is not this service's to do).
"""

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from ...core.models import Account
from ._base import (
    Authorization,
    IdentityCall,
    Outcome,
    Provider,
    account_of,
    bearer,
    https_host,
    missing,
    not_identifiable,
    string_field,
    with_client,
)
from ._http import TokenRequest
from .models import OAuthClient

LOGIN_HOST = "login.microsoftonline.com"
ANY_WORK_ACCOUNT = "organizations"  # the tenant segment before the user has signed in
DEFAULT_PERMISSION = "user_impersonation"
# A tenant GUID, a verified domain, or "organizations"/"common".
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$")
_AADSTS = re.compile(r"\bAADSTS(\d{4,8})\b")
RECONNECT_CODES = frozenset({"AADSTS700082", "AADSTS50173", "AADSTS70043"})
WHOAMI_PATH = "/api/data/v9.2/WhoAmI"
# Dataverse environments' hosts (commercial, China, US government clouds); the token goes there.
_ORG_HOST_SUFFIXES = (".dynamics.com", ".dynamics.cn", ".microsoftdynamics.us", ".appsplatform.us")


def _tenant(metadata: Mapping[str, Any], default: str | None) -> str:
    tenant = string_field(metadata, "tenant_id") or default
    if tenant is None:
        raise missing("missing_tenant_id", "metadata has no tenant_id")
    if not _TENANT.match(tenant):
        raise missing("invalid_tenant_id", "metadata tenant_id is not a tenant id or domain")
    return tenant


def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`."""
    return f"https://{LOGIN_HOST}/{_tenant(metadata, None)}/oauth2/v2.0/token"


def exchange_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """The token endpoint of `tenant_id`, else of `organizations` (as the authorize step's)."""
    return f"https://{LOGIN_HOST}/{_tenant(metadata, ANY_WORK_ACCOUNT)}/oauth2/v2.0/token"


def authorize_endpoint(metadata: Mapping[str, Any]) -> str:
    """`https://login.microsoftonline.com/{tenant_id, else organizations}/oauth2/v2.0/authorize`."""
    return f"https://{LOGIN_HOST}/{_tenant(metadata, ANY_WORK_ACCOUNT)}/oauth2/v2.0/authorize"


def _org_host(metadata: Mapping[str, Any], dsn: str | None) -> str:
    for candidate in (string_field(metadata, "instance_url"), string_field(metadata, "resource"), dsn):
        host = https_host(candidate)
        if host is not None:
            return host
    raise missing("missing_org_url", "metadata has no https instance_url or resource for the org")


def org_scope(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`https://{org host}/.default offline_access` from `instance_url`, `resource` or the dsn."""
    return f"https://{_org_host(metadata, dsn)}/.default offline_access"


def default_scopes(metadata: Mapping[str, Any]) -> tuple[str, ...]:
    """`https://{org host}/user_impersonation`, `offline_access`, `openid`."""
    return f"https://{_org_host(metadata, None)}/{DEFAULT_PERMISSION}", "offline_access", "openid"


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, grant: Mapping[str, str], dsn: str | None
) -> TokenRequest:
    """Form body: the grant, client_id, client_secret, and the grant's scope, else the org's."""
    return TokenRequest(url=url, form={"scope": org_scope(metadata, dsn), **with_client(client, grant)})


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """The tenant (`tid`) of an ID token in the response: it came straight from the token endpoint
    over TLS, which OpenID Connect accepts in place of checking its signature."""
    id_token = body.get("id_token")
    if not isinstance(id_token, str) or id_token.count(".") != 2:
        return {}
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return {}
    tenant = claims.get("tid") if isinstance(claims, dict) else None
    if isinstance(tenant, str) and _TENANT.match(tenant):
        return {"tenant_id": tenant}
    return {}


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`invalid_grant` (AADSTS700082 inactive, AADSTS50173 revoked, AADSTS70043 expired, a refused
    or expired code, ...). Reported with the AADSTS code when the description names one.
    """
    match = _AADSTS.search(description)
    aadsts = f"AADSTS{match.group(1)}" if match else None
    if aadsts in RECONNECT_CODES or code in ("invalid_grant", "interaction_required"):
        return "reconnect", aadsts or code
    return None


def identity_base(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """The org (`instance_url`, `resource` or the dsn), a Dataverse host."""
    for candidate in (string_field(metadata, "instance_url"), string_field(metadata, "resource"), dsn):
        host = https_host(candidate)
        if host is not None:
            if not host.endswith(_ORG_HOST_SUFFIXES):
                raise not_identifiable("invalid_org_url", "metadata instance_url is not a Dynamics 365 host")
            return f"https://{host}"
    raise not_identifiable("missing_org_url", "metadata has no https instance_url or resource for the org")


def identity_request(
    base: str, metadata: Mapping[str, Any], token: str, client: OAuthClient | None
) -> TokenRequest:
    """`GET {base}/api/data/v9.2/WhoAmI`, Bearer, OData 4.0."""
    return bearer(base + WHOAMI_PATH, token, **{"OData-MaxVersion": "4.0", "OData-Version": "4.0"})


def identity_account(body: Mapping[str, Any]) -> Account | None:
    """`OrganizationId`, `UserId`."""
    return account_of(body.get("OrganizationId"), user=body.get("UserId"))


IDENTITY = IdentityCall(identity_base, identity_request, identity_account)
AUTHORIZATION = Authorization(
    authorize_endpoint,
    default_scopes,
    params=(("response_type", "code"), ("response_mode", "query")),
    pkce=True,
    scope_at_exchange=True,
)
PROVIDER = Provider(
    "dynamics",
    default_token_url,
    build_request,
    metadata_updates,
    classify,
    AUTHORIZATION,
    exchange_token_url=exchange_token_url,
)
