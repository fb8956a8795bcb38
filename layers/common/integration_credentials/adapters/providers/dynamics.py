"""Dynamics 365: Microsoft identity platform v2.0 with the org's `.default` scope; rotates tokens."""

import re
from collections.abc import Mapping
from typing import Any

from ._base import Outcome, Provider, https_host, missing, refresh_grant, string_field
from ._http import TokenRequest
from .models import OAuthClient

LOGIN_HOST = "login.microsoftonline.com"
# A tenant GUID, a verified domain, or "organizations"/"common".
_TENANT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,253}$")
_AADSTS = re.compile(r"\bAADSTS(\d{4,8})\b")
RECONNECT_CODES = frozenset({"AADSTS700082", "AADSTS50173", "AADSTS70043"})


def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`https://login.microsoftonline.com/{tenant_id}/oauth2/v2.0/token`."""
    tenant = string_field(metadata, "tenant_id")
    if tenant is None:
        raise missing("missing_tenant_id", "metadata has no tenant_id")
    if not _TENANT.match(tenant):
        raise missing("invalid_tenant_id", "metadata tenant_id is not a tenant id or domain")
    return f"https://{LOGIN_HOST}/{tenant}/oauth2/v2.0/token"


def org_scope(metadata: Mapping[str, Any], dsn: str | None) -> str:
    """`https://{org host}/.default offline_access` from `instance_url`, `resource` or the dsn."""
    for candidate in (string_field(metadata, "instance_url"), string_field(metadata, "resource"), dsn):
        host = https_host(candidate)
        if host is not None:
            return f"https://{host}/.default offline_access"
    raise missing("missing_org_url", "metadata has no https instance_url or resource for the org")


def build_request(
    url: str, metadata: Mapping[str, Any], client: OAuthClient, refresh_token: str, dsn: str | None
) -> TokenRequest:
    """Form body: grant_type, client_id, client_secret, refresh_token, scope."""
    return TokenRequest(
        url=url,
        form={**refresh_grant(client, refresh_token), "scope": org_scope(metadata, dsn)},
    )


def metadata_updates(body: Mapping[str, Any]) -> dict[str, Any]:
    """Nothing besides the tokens."""
    return {}


def classify(status: int, code: str, description: str) -> tuple[Outcome, str] | None:
    """`invalid_grant` (AADSTS700082 inactive, AADSTS50173 revoked, AADSTS70043 expired, ...).

    Reported with the AADSTS code when the description names one.
    """
    match = _AADSTS.search(description)
    aadsts = f"AADSTS{match.group(1)}" if match else None
    if aadsts in RECONNECT_CODES or code in ("invalid_grant", "interaction_required"):
        return "reconnect", aadsts or code
    return None


PROVIDER = Provider("dynamics", default_token_url, build_request, metadata_updates, classify)
