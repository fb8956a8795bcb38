"""One CRM's token endpoint: the authorization_code and refresh_token grants, with client
authentication, answers and errors in the provider's documented shape.

Longer than 300 lines: both grants share the client authentication, the form checks and the
answer, in five providers' shapes."""

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
import urllib.parse
from typing import TYPE_CHECKING, Any

from .grants import INACTIVE, REVOKED, USED, Code, Exchange, Grant
from .http import Received, Reply
from .refusals import RefusalError, refusal
from .specs import (
    OIDC_SCOPES,
    PIPEDRIVE_API_DOMAIN,
    SALESFORCE_SESSION_SECONDS,
    ZOHO_DATA_CENTRES,
    ZOHO_TOKENS_PER_WINDOW,
    ZOHO_WINDOW_SECONDS,
    offers_refresh_token,
)

if TYPE_CHECKING:
    from .crm import Crm

FORM = "application/x-www-form-urlencoded"
_SCOPE_MISSING = "The request body must contain the following parameter: 'scope'."
_SCOPE_INVALID = "The provided value for the input parameter 'scope' is not valid."
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")


def s256(verifier: str) -> str:
    """RFC 7636 S256 of a PKCE verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return b64url(digest)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def token_reply(crm: "Crm", received: Received) -> Reply:
    """The token endpoint's answer to `received` (recorded in the CRM's exchanges)."""
    grant_type, client_id = "", None
    try:
        form = _form(crm.provider, received)
        grant_type = form.get("grant_type", "")
        client_id = _authenticate(crm, form, received.headers.get("authorization"))
        if grant_type == "authorization_code":
            _only(crm.provider, form, crm.spec.code_form)
            answer = _exchange_code(crm, form, client_id)
        elif grant_type == "refresh_token":
            _only(crm.provider, form, crm.spec.refresh_form)
            answer = _refresh(crm, form, client_id)
        elif not grant_type:
            raise refusal(crm.provider, "request", "Missing parameter: grant_type")
        else:
            raise refusal(crm.provider, "grant_type", "Unsupported grant type: grant_type is invalid")
    except RefusalError as refused:
        crm.ledger.answered(Exchange(grant_type, client_id, refused.status, refused.error))
        return crm.fault_reply(refused.status, refused.body)
    crm.ledger.answered(Exchange(grant_type, client_id, 200, None))
    return crm.fault_reply(200, answer)


def _form(provider: str, received: Received) -> dict[str, str]:
    content_type = received.headers.get("content-type", "")
    if received.method != "POST" or content_type.split(";")[0].strip().lower() != FORM:
        raise refusal(
            provider, "request", "Invalid request: content must be application/x-www-form-urlencoded"
        )
    if received.query:
        # Secrets in a query string end up in access logs: the service must never send them so.
        raise refusal(provider, "request", "parameters belong in the form body, not the query string.")
    try:
        pairs = urllib.parse.parse_qsl(
            received.body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(received.body)
        )
    except (UnicodeDecodeError, ValueError):
        raise refusal(provider, "request", "the form body is malformed.") from None
    form: dict[str, str] = {}
    for key, value in pairs:
        if key in form:
            raise refusal(provider, "request", "a parameter is repeated.")
        form[key] = value
    return form


def _only(provider: str, form: dict[str, str], allowed: frozenset[str]) -> None:
    unknown = sorted(set(form) - allowed)
    if unknown:
        raise refusal(provider, "request", f"Invalid request: unexpected parameters {unknown}")


def _basic(authorization: str | None) -> tuple[str | None, str]:
    if not authorization or not authorization.lower().startswith("basic "):
        return None, ""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, ""
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None, ""
    return urllib.parse.unquote(client_id), urllib.parse.unquote(secret)


def _authenticate(crm: "Crm", form: dict[str, str], authorization: str | None) -> str:
    provider = crm.provider
    if crm.spec.basic_auth:
        if "client_id" in form or "client_secret" in form:
            raise refusal(provider, "request", "Invalid request: client credentials belong in HTTP Basic")
        client_id, secret = _basic(authorization)
        if client_id is None:
            raise refusal(provider, "client", "Invalid client: cannot retrieve client credentials")
    else:
        if authorization is not None:
            raise refusal(provider, "request", "client credentials belong in the form body")
        client_id, secret = form.get("client_id"), form.get("client_secret", "")
        if not client_id or not secret:
            raise refusal(provider, "request", "client_id and client_secret are required.")
    if client_id != crm.client["client_id"]:
        raise refusal(provider, "client", "Invalid client: client is invalid")
    if not hmac.compare_digest(secret.encode(), crm.client["client_secret"].encode()):
        raise refusal(provider, "secret", "Invalid client secret provided.")
    return client_id


def _scope_at_exchange(crm: "Crm", form: dict[str, str]) -> set[str]:
    scopes = set(form.get("scope", "").split())
    if crm.spec.scope_at_exchange and not scopes:
        raise refusal(
            crm.provider, "request", "The request body must contain the following parameter: 'scope'."
        )
    return scopes


def _exchange_code(crm: "Crm", form: dict[str, str], client_id: str) -> dict[str, Any]:
    provider = crm.provider
    code, redirect_uri = form.get("code", ""), form.get("redirect_uri", "")
    if not code or not redirect_uri:
        raise refusal(provider, "request", "code and redirect_uri are required.")
    requested = _scope_at_exchange(crm, form)
    with crm.ledger.lock:
        grant: Code | None = crm.ledger.codes.get(code)
        if grant is None or grant.client_id != client_id:
            raise refusal(provider, "code", "Invalid grant: authorization_code is invalid")
        if grant.used:
            raise refusal(provider, "used_code", "Invalid grant: authorization_code was already redeemed")
        # Single use whatever comes next: a failed exchange burns the code too.
        grant.used = True
    if time.monotonic() - grant.issued > crm.code_lifetime:
        raise refusal(provider, "expired_code", "Invalid grant: authorization_code has expired")
    if redirect_uri != grant.redirect_uri:
        raise refusal(provider, "redirect", "redirect_uri does not match the one of the authorize request.")
    verifier = form.get("code_verifier")
    if grant.challenge is not None and (
        verifier is None or not _VERIFIER.match(verifier) or s256(verifier) != grant.challenge
    ):
        raise refusal(provider, "verifier", "invalid code verifier")
    if grant.challenge is None and verifier is not None:
        # OAuth 2.1: a verifier for a code issued without a challenge is refused.
        raise refusal(provider, "verifier", "code_verifier sent for a code issued without a challenge")
    if crm.spec.scope_at_exchange and not requested <= set((grant.scope or "").split()):
        # Microsoft: the exchange's scopes are those of the authorize request, or fewer.
        raise refusal(provider, "scope", _SCOPE_INVALID)
    scope = " ".join(sorted(requested)) if crm.spec.scope_at_exchange else grant.scope
    return _answer(crm, client_id, scope, refresh_token=None, chain=None)


def _resources(scope: str | None) -> set[str]:
    """The resources (`https://host`) a Microsoft scope names."""
    return {part.rsplit("/", 1)[0] for part in (scope or "").split() if "://" in part}


def _refresh(crm: "Crm", form: dict[str, str], client_id: str) -> dict[str, Any]:
    provider = crm.provider
    token = form.get("refresh_token", "")
    requested = _scope_at_exchange(crm, form)
    ledger = crm.ledger
    with ledger.lock:
        grant: Grant | None = ledger.grants.get(token)
        if grant is None and token and crm.adopt_refresh_tokens:
            grant = ledger.grants[token] = Grant(client_id, crm.default_scope(), ledger.next_chain())
        if not token or grant is None or grant.client_id != client_id:
            raise refusal(provider, "refresh", "Invalid grant: refresh_token is invalid")
        if grant.state == USED:
            # Salesforce's rotation: a rotated-away token presented again revokes the whole chain.
            ledger.replayed.append(token)
            ledger.revoke_chain(grant.chain)
        if grant.state in (USED, REVOKED):
            raise refusal(provider, "revoked", "expired access/refresh token: the grant was revoked.")
        if grant.state == INACTIVE:
            raise refusal(
                provider,
                "inactive",
                "The refresh token has expired due to inactivity. The token was issued on "
                "2026-01-01T00:00:00Z and was inactive for 90.00:00:00.",
            )
        if crm.spec.scope_at_exchange and not _resources(" ".join(requested)) <= _resources(grant.scope):
            raise refusal(
                provider, "scope", "The provided value for the input parameter 'scope' is not valid."
            )
        if provider == "zoho" and not ledger.window(grant, ZOHO_TOKENS_PER_WINDOW, ZOHO_WINDOW_SECONDS):
            raise refusal(provider, "rate", "too many requests")
        if crm.rotation:
            grant.state = USED
            ledger.rotated.append(token)
        chain, scope = grant.chain, grant.scope
    if crm.spec.scope_at_exchange:
        scope = " ".join(sorted(requested))
    return _answer(crm, client_id, scope, refresh_token=token, chain=chain)


def _answer(
    crm: "Crm", client_id: str, scope: str | None, *, refresh_token: str | None, chain: int | None
) -> dict[str, Any]:
    """A successful token response: new tokens recorded, in the provider's documented shape."""
    provider, spec = crm.provider, crm.spec
    first = refresh_token is None
    access_token = crm.minter.access("00D000000000FAKE!" if provider == "salesforce" else "")
    new_refresh = refresh_token
    if offers_refresh_token(provider, scope) if first else (spec.rotates or crm.rotation):
        new_refresh = crm.minter.refresh()
    issued = [access_token]
    # A consent's tokens belong to the account the user consented in (the CRM's current one); a
    # refresh's to its grant's.
    account = crm.account if first else None
    if new_refresh is not None and new_refresh != refresh_token:
        grant = crm.ledger.add_grant(new_refresh, client_id, scope, chain)
        if first:
            grant.account = account
        chain = grant.chain
        issued.append(new_refresh)
    crm.ledger.add_session(access_token, chain, spec.access_lifetime or SALESFORCE_SESSION_SECONDS, account)
    body: dict[str, Any] = {"access_token": access_token}
    # Salesforce (without rotation) and Zoho send no refresh token on refresh; HubSpot and
    # Pipedrive repeat it; Microsoft and a rotating Salesforce send a new one.
    if new_refresh is not None and (first or spec.echoes_refresh_token or new_refresh != refresh_token):
        body["refresh_token"] = new_refresh
    if provider == "salesforce":
        body.update(_salesforce_fields(crm.client["client_secret"], scope, crm.instance_url))
    elif provider == "hubspot":
        body.update(token_type="bearer", expires_in=spec.access_lifetime)
    elif provider == "pipedrive":
        body.update(
            token_type="Bearer",
            expires_in=spec.access_lifetime,
            scope="base,deals:full",
            api_domain=PIPEDRIVE_API_DOMAIN,
        )
    elif provider == "zoho":
        _, api_host, _ = ZOHO_DATA_CENTRES[crm.zoho_data_centre]
        body.update(api_domain=f"https://{api_host}", token_type="Bearer", expires_in=spec.access_lifetime)
        if scope:
            body["scope"] = scope
    else:
        # The access token's scope: the resource's permissions (.default: the consented one),
        # never the OpenID Connect scopes.
        granted = [
            part.replace("/.default", "/user_impersonation")
            for part in (scope or "").split()
            if part not in OIDC_SCOPES
        ]
        body.update(token_type="Bearer", scope=" ".join(granted), expires_in=spec.access_lifetime)
        body["ext_expires_in"] = spec.access_lifetime
        if "openid" in (scope or "").split():
            body["id_token"] = _id_token(client_id, crm.tenant)
            issued.append(body["id_token"])
    crm.ledger.record(*issued)
    return body


def _salesforce_fields(client_secret: str, scope: str | None, instance_url: str) -> dict[str, Any]:
    identity = "https://login.salesforce.com/id/00D000000000FAKEAA/005000000000FAKEAA"
    issued_at = str(int(time.time() * 1000))
    # As Salesforce signs it: HMAC-SHA256 of id + issued_at under the client secret, base64.
    digest = hmac.new(client_secret.encode(), (identity + issued_at).encode(), hashlib.sha256).digest()
    return {
        "signature": base64.b64encode(digest).decode("ascii"),
        "scope": scope or "api refresh_token id",
        "instance_url": instance_url,
        "id": identity,
        "token_type": "Bearer",
        "issued_at": issued_at,
    }


def _id_token(client_id: str, tenant: str) -> str:
    """An ID token shaped as Microsoft's (RS256 header, tid/oid claims); its signature is fake."""
    now = int(time.time())
    claims = {
        "aud": client_id,
        "iss": f"https://login.microsoftonline.com/{tenant}/v2.0",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "tid": tenant,
        "oid": "00000000-0000-0000-0000-00000000fake",
        "sub": "fake-subject",
        "preferred_username": "user@mycompany.onmicrosoft.com",
        "name": "Fake User",
        "ver": "2.0",
    }
    header = {"alg": "RS256", "typ": "JWT", "kid": "fake"}
    parts = [b64url(json.dumps(value).encode()) for value in (header, claims)]
    return ".".join([*parts, b64url(secrets.token_bytes(64))])
