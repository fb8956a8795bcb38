"""One CRM's identity call ("who am I") and revocation endpoint, in the provider's documented shape
(docs/health.md names the pages), for the tokens the fake issued (or registered: HubSpot's
private-app tokens, Pipedrive's API tokens).

- Salesforce: `GET /services/oauth2/userinfo` (Bearer): `organization_id`, `user_id`; a token that
  is not live is a 403 `Bad_OAuth_Token`. `POST /services/oauth2/revoke`, form `token`: 200, or 400
  `invalid_token`.
- HubSpot: `POST /oauth/2026-03/token/introspect`, form `client_id`, `client_secret`, `token`
  (`token_type_hint`): `active`, `hub_id`, `hub_domain`, `user`, `user_id`..., `{"active": false}`
  for a token that is not live; `GET /account-info/2026-03/details` (Bearer private-app token):
  `portalId`. `POST /oauth/2026-03/token/revoke`, same form: 200 (also for an unknown token, as
  RFC 7009 says: HubSpot documents no answer for one).
- Pipedrive: `GET /api/v1/users/me`, Bearer or `x-api-token`: `data.company_id`...; 401
  otherwise. `POST /oauth/revoke`, HTTP Basic, form `token`, `token_type_hint`: 200 (RFC 7009).
- Zoho: `GET /crm/v8/org`, `Authorization: Zoho-oauthtoken`: `org[0].id`...; 401 `INVALID_TOKEN`,
  or 401 `OAUTH_SCOPE_MISMATCH` for a token whose grant lacks `ZohoCRM.org.READ`.
  `POST /oauth/v2/token/revoke?token=`: `{"status": "success"}`, or 400 for an invalid token.
- Dynamics: `GET /api/data/v9.2/WhoAmI` (Bearer): `OrganizationId`, `UserId`, `BusinessUnitId`;
  401 with an empty body. No revocation (Microsoft Entra ID has none per token).

A revoked refresh token ends its grant (the token endpoint refuses it) and its access tokens; a
revoked access token ends that session.
"""

import hmac
import uuid
from typing import TYPE_CHECKING, Any

from .grants import REVOKED, FakeAccount
from .http import Received, Reply

if TYPE_CHECKING:
    from .crm import Crm

FORM = "application/x-www-form-urlencoded"
_SCOPE_MISMATCH = {"code": "OAUTH_SCOPE_MISMATCH", "message": "invalid oauth scope to access this URL"}
# provider -> documented identity paths (one per token kind where the provider has two)
IDENTITY_PATHS = {
    "salesforce": ("/services/oauth2/userinfo",),
    "hubspot": ("/oauth/2026-03/token/introspect", "/account-info/2026-03/details"),
    "pipedrive": ("/api/v1/users/me",),
    "zoho": ("/crm/v8/org",),
    "dynamics": ("/api/data/v9.2/WhoAmI",),
}
REVOKE_PATHS = {
    "salesforce": "/services/oauth2/revoke",
    "hubspot": "/oauth/2026-03/token/revoke",
    "pipedrive": "/oauth/revoke",
    "zoho": "/oauth/v2/token/revoke",
}
# The account the fake's users work in unless a test says otherwise, and another one.
ACCOUNTS = {
    "salesforce": FakeAccount("00D000000000FAKEAA", None, "005000000000FAKEAA"),
    "hubspot": FakeAccount(12345678, "mycompany.hubspot.com", "user@mycompany.example"),
    "pipedrive": FakeAccount(1234567, "mycompany", 7654321),
    "zoho": FakeAccount("111111000000033001", "My Company", None),
    "dynamics": FakeAccount(
        "f2c9290b-0806-4d48-bf9c-3814d4286755", None, "2138bd90-ec19-ea11-a811-000d3a334e11"
    ),
}
OTHER_ACCOUNTS = {
    "salesforce": FakeAccount("00D000000000OTHRAA", None, "005000000000OTHRAA"),
    "hubspot": FakeAccount(87654321, "othercompany.hubspot.com", "user@othercompany.example"),
    "pipedrive": FakeAccount(7654321, "othercompany", 1234567),
    "zoho": FakeAccount("222222000000044002", "Other Company", None),
    "dynamics": FakeAccount(
        "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", None, "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
    ),
}


def action_of(provider: str, path: str) -> str | None:
    """ "identity" or "revoke" for one of the provider's documented paths (after an optional
    `/<provider>` prefix, where `FakeCrms` serves it), else None."""
    prefix = f"/{provider}"
    if path.startswith(prefix + "/"):
        path = path[len(prefix) :]
    if path in IDENTITY_PATHS[provider]:
        return "identity"
    if path == REVOKE_PATHS.get(provider):
        return "revoke"
    return None


def identity_reply(crm: "Crm", received: Received) -> Reply:
    """The identity call's answer (its status recorded in the CRM's api_calls)."""
    reply = _identity(crm, received)
    with crm.ledger.lock:
        crm.ledger.api_calls.append(reply.status)
    return crm.fault_reply(reply.status, reply.body) if reply.content_type is None else reply


def _bearer(received: Received, scheme: str = "bearer") -> str:
    given, _, token = received.headers.get("authorization", "").partition(" ")
    return token.strip() if given.lower() == scheme else ""


def _identity(crm: "Crm", received: Received) -> Reply:
    provider = crm.provider
    if provider == "hubspot" and received.path.endswith("/token/introspect"):
        return _introspect(crm, received)
    if received.method != "GET":
        return Reply(405, {"message": "method not allowed"})
    if provider == "pipedrive" and "x-api-token" in received.headers:
        token = received.headers["x-api-token"].strip()
    else:
        token = _bearer(received, "zoho-oauthtoken" if provider == "zoho" else "bearer")
    account = crm.account_of(token) if token else None
    if account is None:
        return _not_live(provider)
    if provider == "zoho" and not _org_scope(crm.scope_of(token)):
        return Reply(401, {**_SCOPE_MISMATCH, "details": {}, "status": "error"})
    return Reply(200, _identity_body(crm, account))


def _org_scope(scope: str | None) -> bool:
    """Whether a Zoho grant's scope lets its token read the org (a grant without a recorded scope
    is taken as the service's default one)."""
    if scope is None:
        return True
    granted = {part.strip() for part in scope.replace(" ", ",").split(",")}
    return bool(granted & {"ZohoCRM.org.READ", "ZohoCRM.org.ALL", "ZohoCRM.org.*"})


def _not_live(provider: str) -> Reply:
    if provider == "salesforce":
        return Reply(403, b"Bad_OAuth_Token", content_type="text/plain")
    if provider == "hubspot":
        return Reply(
            401,
            {
                "status": "error",
                "message": "Authentication credentials not found.",
                "correlationId": str(uuid.uuid4()),
                "category": "INVALID_AUTHENTICATION",
            },
        )
    if provider == "pipedrive":
        return Reply(401, {"success": False, "error": "unauthorized access", "errorCode": 401})
    if provider == "zoho":
        return Reply(
            401, {"code": "INVALID_TOKEN", "details": {}, "message": "invalid oauth token", "status": "error"}
        )
    return Reply(
        401, b"", headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}, content_type="text/plain"
    )


def _identity_body(crm: "Crm", account: FakeAccount) -> dict[str, Any]:
    provider = crm.provider
    if provider == "salesforce":
        return {
            "sub": f"https://login.salesforce.com/id/{account.id}/{account.user}",
            "user_id": account.user,
            "organization_id": account.id,
            "preferred_username": "user@mycompany.example",
            "name": "Fake User",
            "email": "user@mycompany.example",
            "zoneinfo": "Europe/London",
        }
    if provider == "hubspot":  # account details (a private-app token)
        return {
            "portalId": account.id,
            "accountType": "STANDARD",
            "timeZone": "US/Eastern",
            "companyCurrency": "USD",
            "additionalCurrencies": [],
            "utcOffset": "-05:00",
            "utcOffsetMilliseconds": -18000000,
            "uiDomain": "app.hubspot.com",
            "dataHostingLocation": "na1",
        }
    if provider == "pipedrive":
        return {
            "success": True,
            "data": {
                "id": account.user,
                "name": "Fake User",
                "email": "user@mycompany.example",
                "company_id": account.id,
                "company_name": "My Company",
                "company_domain": account.name,
                "is_you": True,
            },
        }
    if provider == "zoho":
        org = {
            "id": account.id,
            "company_name": account.name,
            "domain_name": "org12345678",
            "zgid": "12345678",
        }
        return {"org": [org]}
    return {
        "@odata.context": "https://org.crm.dynamics.com/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
        "BusinessUnitId": "cca3985e-c618-ea11-a811-000d3a33f066",
        "UserId": account.user,
        "OrganizationId": account.id,
    }


def _client_in_form(crm: "Crm", form: dict[str, str]) -> bool:
    return form.get("client_id") == crm.client["client_id"] and hmac.compare_digest(
        form.get("client_secret", "").encode(), crm.client["client_secret"].encode()
    )


def _form(received: Received) -> dict[str, str] | None:
    if received.method != "POST" or received.headers.get("content-type", "").split(";")[0].strip() != FORM:
        return None
    return {key: values[-1] for key, values in received.form.items()}


def _introspect(crm: "Crm", received: Received) -> Reply:
    form = _form(received)
    if form is None or not form.get("token") or received.query:
        return Reply(400, {"message": "client_id, client_secret and token are required in the form body"})
    if not _client_in_form(crm, form):
        return Reply(401, {"message": "Invalid client credentials", "category": "INVALID_AUTHENTICATION"})
    token = form["token"]
    account = crm.account_of(token)
    if account is None:
        return Reply(200, {"active": False})
    return Reply(
        200,
        {
            "active": True,
            "token": token,
            "token_type": "access",
            "token_use": "access_token",
            "client_id": crm.client["client_id"],
            "app_id": 1234,
            "hub_id": account.id,
            "hub_domain": account.name,
            "user": account.user,
            "user_id": 4242,
            "scopes": ["oauth", "crm.objects.contacts.read"],
            "expires_in": 1500,
            "is_private_distribution": False,
        },
    )


def revoke_reply(crm: "Crm", received: Received) -> Reply:
    """The revocation endpoint's answer; a token revoked is recorded in the ledger's `revoked`."""
    provider = crm.provider
    if provider == "zoho":
        # The token is the `token` query parameter of an (empty) POST.
        token = (received.query.get("token") or [""])[-1]
        if received.method != "POST" or not token:
            return Reply(400, {"error": "invalid_request"})
        return (
            Reply(200, {"status": "success"}) if crm.revoke(token) else Reply(400, {"error": "invalid_token"})
        )
    form = _form(received)
    if form is None or not form.get("token") or received.query:
        return Reply(
            400, {"error": "invalid_request", "error_description": "token is required in the form body"}
        )
    if provider == "pipedrive":
        from .tokens import _basic  # the token endpoint's HTTP Basic parsing

        client_id, secret = _basic(received.headers.get("authorization"))
        if client_id != crm.client["client_id"] or not hmac.compare_digest(
            secret.encode(), crm.client["client_secret"].encode()
        ):
            return Reply(401, {"success": False, "message": "Invalid client"})
    elif provider == "hubspot" and not _client_in_form(crm, form):
        return Reply(401, {"message": "Invalid client credentials", "category": "INVALID_AUTHENTICATION"})
    revoked = crm.revoke(form["token"])
    if provider == "salesforce" and not revoked:
        return Reply(400, {"error": "invalid_token", "error_description": "Token was invalid"})
    # Pipedrive follows RFC 7009: 200 also for a token it does not hold (HubSpot is taken to).
    return Reply(200, b"", content_type="text/plain")


def revoke_token(crm: "Crm", token: str) -> bool:
    """Revoke `token` (a refresh token: its whole grant and its access tokens; an access token:
    its session). False when the fake holds no such live token."""
    ledger = crm.ledger
    with ledger.lock:
        grant = ledger.grants.get(token)
        if grant is not None and grant.state != REVOKED:
            ledger.revoke_chain(grant.chain)
            ledger.revoked.append(token)
            return True
        session = ledger.sessions.get(token)
        if session is not None and not session.expired:
            session.expired = True
            ledger.revoked.append(token)
            return True
    return False
