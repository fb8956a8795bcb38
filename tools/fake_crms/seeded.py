"""CRM fakes seeded with a known client, grant and code, minting fixed tokens: for tests that
compare what the service sends and stores with constants. Each call makes a fresh fake with
state of its own."""

import base64
import json
import threading
from typing import Any

from .crm import Crm
from .grants import INACTIVE, USED, Minter
from .http import Behaviour
from .specs import DYNAMICS_TENANT_ID, PROVIDERS

CLIENT_ID = "client-id-123"
CLIENT_SECRET = "s3cr3t-client-secret-0123456789abcdef"
REFRESH_TOKEN = "5Aep861rEfReShToKeN0123456789abcdefXYZ"
NEW_ACCESS_TOKEN = "00D5g000001234567!AQYAQnewAccessToken0123456789"
NEW_REFRESH_TOKEN = "rotatedRefreshToken0123456789abcdefABCDEF"
AUTH_CODE = "aPrxAuthCode0123456789abcdefAuthorizationCode"
REDIRECT_URI = "https://app.example.com/integration-credentials/oauth/callback"
DYNAMICS_ORG = "contoso.crm4.dynamics.com"
# Modes: ok; dead (the refresh token is dead: inactive, as the provider reports it); throttled
# (Zoho: the grant's access tokens for the window are used up); refused (the code expired).
MODES = ("ok", "dead", "throttled", "refused")


def code_scope(provider: str, org: str = DYNAMICS_ORG) -> str | None:
    """The scope the service's authorize URL asks for by default (the seeded code's)."""
    return {
        "salesforce": "refresh_token api",
        "hubspot": "oauth crm.objects.contacts.read",
        "zoho": "ZohoCRM.modules.ALL,ZohoCRM.org.READ",
        "dynamics": f"https://{org}/user_impersonation offline_access openid",
    }.get(provider)


def seeded(
    provider: str,
    mode: str = "ok",
    *,
    tenant: str = DYNAMICS_TENANT_ID,
    org: str = DYNAMICS_ORG,
    challenge: str | None = None,
    scope: str | None = None,
) -> Crm:
    """`provider`'s fake knowing client CLIENT_ID/CLIENT_SECRET, the grant REFRESH_TOKEN and
    the code AUTH_CODE (for REDIRECT_URI, with `challenge` and `scope`, default the service's),
    answering NEW_ACCESS_TOKEN (and NEW_REFRESH_TOKEN where it sends a new refresh token)."""
    if mode not in MODES or provider not in PROVIDERS:
        raise ValueError(f"unknown provider or mode: {provider!r}, {mode!r}")
    crm = Crm(
        provider,
        {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
        tenant=tenant,
        minter=Minter(NEW_ACCESS_TOKEN, NEW_REFRESH_TOKEN),
    )
    grant_scope = f"https://{org}/user_impersonation offline_access" if provider == "dynamics" else None
    crm.grant(REFRESH_TOKEN, scope=grant_scope, state=INACTIVE if mode == "dead" else "active")
    if mode == "throttled":
        crm.exhaust(REFRESH_TOKEN)
    crm.issue_code(
        AUTH_CODE,
        redirect_uri=REDIRECT_URI,
        challenge=challenge,
        scope=scope or code_scope(provider, org),
        expired=mode == "refused",
    )
    return crm


def salesforce(mode: str = "ok") -> Crm:
    return seeded("salesforce", mode)


def hubspot(mode: str = "ok") -> Crm:
    return seeded("hubspot", mode)


def pipedrive(mode: str = "ok") -> Crm:
    return seeded("pipedrive", mode)


def zoho(mode: str = "ok") -> Crm:
    return seeded("zoho", mode)


def dynamics(tenant: str = DYNAMICS_TENANT_ID, org: str = DYNAMICS_ORG, mode: str = "ok") -> Crm:
    return seeded("dynamics", mode, tenant=tenant, org=org)


def id_token(claims: dict[str, Any]) -> str:
    """An unsigned-looking JWT (header.payload.signature) carrying `claims`."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJlMDEyMzQ1Njc4OQ"


class RotatingChain:
    """A Salesforce connected app with refresh token rotation, holding the grant `first`: every
    refresh token works once and is replaced by a new one; replaying a used one revokes the whole
    chain (as Salesforce does), after which every refresh fails with invalid_grant. `delay`:
    seconds before each answer; `answer_after`: each answer waits for the event (up to 10 s)."""

    def __init__(
        self, first: str = REFRESH_TOKEN, *, delay: float = 0.0, answer_after: threading.Event | None = None
    ) -> None:
        self.crm = Crm(
            "salesforce",
            {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET},
            rotation=True,
            latency=delay,
            hold=answer_after,
        )
        self.crm.grant(first)
        self._first = first

    def behaviour(self) -> Behaviour:
        return self.crm

    @property
    def current(self) -> str:
        """The chain's newest refresh token."""
        return self.crm.ledger.chain_of(self._first)[-1][0]

    @property
    def used(self) -> list[str]:
        """The refresh tokens used (and rotated away), in order."""
        with self.crm.ledger.lock:
            return list(self.crm.ledger.rotated)

    @property
    def replayed(self) -> list[str]:
        with self.crm.ledger.lock:
            return list(self.crm.ledger.replayed)

    @property
    def revoked(self) -> bool:
        return any(grant.state not in (USED, "active") for _, grant in self.crm.ledger.chain_of(self._first))
