"""Fake CRMs on 127.0.0.1: each provider's OAuth authorize (consent) and token endpoints.

`make run FAKE_CRMS=1` (LOCAL_FAKE_CRMS=1) serves them beside the local stack and points the
functions' OAUTH_AUTHORIZE_URL_<PROVIDER> / OAUTH_TOKEN_URL_<PROVIDER> at them; tests start one
with `FakeCrms(...).start()` and drive the consent with `.consent(url)` (no browser needed).

Under `/<provider>/` for salesforce, hubspot, pipedrive, zoho and dynamics:

- `GET  /<provider>/authorize`: checks the query as the provider does (client_id known,
  redirect_uri the registered one, state, scope, Zoho's access_type/prompt, PKCE S256 for every
  provider but Pipedrive) and `response_type=code` as a standard authorization server does (RFC
  6749 section 4.1.1; HubSpot's and Pipedrive's references do not list it); a bad request is a 400
  HTML page (providers never redirect to an unchecked redirect_uri), a good one a consent page
  with Allow and Deny buttons.
- `POST /<provider>/consent`: Allow mints a single-use code bound to the client, redirect_uri,
  challenge and scopes and 303s to `redirect_uri?code=..&state=..` (Zoho adds `location` and
  `accounts-server`); Deny 303s with `error=access_denied&error_description=..&state=..`.
- `POST /<provider>/token`: the authorization_code and refresh_token grants, with client
  authentication, answers and errors in each provider's documented shape (see `_SPECS`).
- `GET /`: an index of the endpoints.

Every code and token is `secrets.token_urlsafe` randomness; the request log names the method and
the path only, never a query string (codes, states) or a body.

Longer than 300 lines: five providers' authorize, consent and token behaviour, their answer and
error shapes, and the test driver form one fake.
"""

import base64
import hashlib
import hmac
import html
import json
import re
import secrets
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PROVIDERS = ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics")
AUTHORIZE_ENV_PREFIX = "OAUTH_AUTHORIZE_URL_"
TOKEN_ENV_PREFIX = "OAUTH_TOKEN_URL_"
# The Dynamics tenant and org the fake's users belong to (the ID token's `tid`, the scope's host).
DYNAMICS_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
PENDING_LIFETIME_SECONDS = 600  # a consent page left open longer must be reloaded
MAX_BODY_BYTES = 65_536
_FORM = "application/x-www-form-urlencoded"
_S256 = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")
_PENDING_FIELD = re.compile(r'name="request" value="([A-Za-z0-9_-]+)"')
ZOHO_DATA_CENTRES = {
    "com": ("accounts.zoho.com", "www.zohoapis.com", "us"),
    "eu": ("accounts.zoho.eu", "www.zohoapis.eu", "eu"),
    "in": ("accounts.zoho.in", "www.zohoapis.in", "in"),
    "com.au": ("accounts.zoho.com.au", "www.zohoapis.com.au", "au"),
    "jp": ("accounts.zoho.jp", "www.zohoapis.jp", "jp"),
    "com.cn": ("accounts.zoho.com.cn", "www.zohoapis.com.cn", "cn"),
    "zohocloud.ca": ("accounts.zohocloud.ca", "www.zohoapis.ca", "ca"),
    "sa": ("accounts.zoho.sa", "www.zohoapis.sa", "sa"),
}
ZOHO_TOKENS_PER_WINDOW = 10  # access tokens per refresh token per 10 minutes
ZOHO_WINDOW_SECONDS = 600


@dataclass(frozen=True)
class _Spec:
    """What one provider's authorize step demands and how its token endpoint behaves."""

    title: str
    scope_required: bool
    scope_separator: str | None  # None: no scope parameter (the app registration sets them)
    pkce: bool  # PKCE S256 accepted, and required when the fake requires PKCE
    basic_auth: bool  # client credentials in HTTP Basic only, never in the form
    scope_at_exchange: bool  # the token request repeats the scope (Microsoft)
    code_lifetime: float  # seconds
    access_lifetime: int | None  # expires_in; None: not sent (Salesforce)
    required: tuple[tuple[str, str], ...] = ()  # further authorize parameters and their values
    rotates: bool = False  # a refresh answers a new refresh token


_SPECS: dict[str, _Spec] = {
    # Web server flow: response_type=code; scope optional (the connected app's); a refresh token
    # only with the refresh_token (or offline_access) scope; the code lives 15 minutes; the answer
    # has instance_url, id, issued_at, signature and no expires_in; refresh sends no new one.
    "salesforce": _Spec("Salesforce", False, " ", True, False, False, 900, None),
    # https://app.hubspot.com/oauth/authorize: scope required, optional_scope, PKCE (the token
    # reference takes code_verifier); 30-minute tokens; a refresh answers the same refresh token.
    "hubspot": _Spec("HubSpot", True, " ", True, False, False, 600, 1800),
    # client_id, redirect_uri, state; no PKCE; HTTP Basic at the token endpoint; the code lives 5
    # minutes; a refresh answers the same refresh token.
    "pipedrive": _Spec("Pipedrive", False, None, False, True, False, 300, 3599),
    # comma-separated scope, access_type=offline, prompt=consent, PKCE (optional for server-based
    # clients); the code lives 2 minutes; no refresh token on refresh; HTTP 200 with
    # {"error": ...} on failures.
    "zoho": _Spec(
        "Zoho",
        True,
        ",",
        True,
        False,
        False,
        120,
        3600,
        required=(("access_type", "offline"), ("prompt", "consent")),
    ),
    # Microsoft identity platform v2.0: response_type=code, scope required (offline_access for a
    # refresh token), PKCE; the exchange repeats the scope; a new refresh token every refresh.
    "dynamics": _Spec("Microsoft", True, " ", True, False, True, 600, 4788, rotates=True),
}


class FakeCrmError(Exception):
    """The fake refused what a test asked it to do (an authorize URL it would not serve...)."""


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    scope: str | None
    issued: float
    used: bool = False


@dataclass
class _Grant:
    client_id: str
    scope: str | None
    minted: list[float] = field(default_factory=list)  # Zoho's per-window access-token count


@dataclass(frozen=True)
class Exchange:
    """One token request as the fake answered it (no secret in it)."""

    grant_type: str
    client_id: str | None
    status: int
    error: str | None  # the provider's error code, None on success


class _RefusalError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(status)


def _refusal(provider: str, kind: str, description: str) -> _RefusalError:
    """A token endpoint error in `provider`'s shape. `kind`: request, grant_type, client,
    secret, code, expired_code, used_code, redirect, verifier, refresh, rate."""
    if provider == "hubspot":
        status_of = {
            "client": "BAD_CLIENT_ID",
            "secret": "BAD_CLIENT_ID",
            "code": "BAD_AUTH_CODE",
            "expired_code": "BAD_AUTH_CODE",
            "used_code": "BAD_AUTH_CODE",
            "verifier": "BAD_AUTH_CODE",
            "redirect": "BAD_REDIRECT_URI",
            "refresh": "BAD_REFRESH_TOKEN",
            "grant_type": "BAD_GRANT_TYPE",
        }
        body = {"status": status_of.get(kind, "BAD_REQUEST"), "message": description}
        return _RefusalError(400, {**body, "correlationId": str(uuid.uuid4())})
    if provider == "pipedrive":
        status = 401 if kind in ("client", "secret") else 400
        return _RefusalError(status, {"success": False, "message": description})
    if provider == "zoho":
        error_of = {
            "client": "invalid_client",
            "secret": "invalid_client_secret",
            "redirect": "invalid_redirect_uri",
            "grant_type": "unsupported_grant_type",
            "request": "invalid_request",
        }
        if kind == "rate":
            return _RefusalError(
                400, {"error_description": description, "error": "Access Denied", "status": "failure"}
            )
        return _RefusalError(200, {"error": error_of.get(kind, "invalid_code")})  # Zoho: 200 with an error
    if provider == "dynamics":
        aadsts, error, status = {
            "request": (900144, "invalid_request", 400),
            "grant_type": (70003, "unsupported_grant_type", 400),
            "client": (700016, "unauthorized_client", 400),
            "secret": (7000215, "invalid_client", 401),
            "code": (70000, "invalid_grant", 400),
            "used_code": (54005, "invalid_grant", 400),
            "expired_code": (70008, "invalid_grant", 400),
            "redirect": (50011, "invalid_request", 400),
            "verifier": (50148, "invalid_grant", 400),
            "refresh": (70000, "invalid_grant", 400),
        }[kind]
        trace, correlation = uuid.uuid4(), uuid.uuid4()
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
        return _RefusalError(
            status,
            {
                "error": error,
                "error_description": f"AADSTS{aadsts}: {description} Trace ID: {trace} "
                f"Correlation ID: {correlation} Timestamp: {stamp}",
                "error_codes": [aadsts],
                "timestamp": stamp,
                "trace_id": str(trace),
                "correlation_id": str(correlation),
            },
        )
    error = {
        "request": "invalid_request",
        "grant_type": "unsupported_grant_type",
        "client": "invalid_client_id",
        "secret": "invalid_client",
        "redirect": "redirect_uri_mismatch",
    }.get(kind, "invalid_grant")
    return _RefusalError(400, {"error": error, "error_description": description})


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _token(prefix: str = "") -> str:
    return prefix + secrets.token_urlsafe(32)


class FakeCrms:
    """The five providers' fake OAuth endpoints on one local HTTP server.

    `clients` maps a provider to `{"client_id", "client_secret"}` and optionally `"redirect_uri"`
    (then the authorize and token steps insist on exactly that string); a provider left out gets
    `local-<provider>-client` with a random secret (see `.clients`). `zoho_data_centre` is the data
    centre the fake Zoho user lives in (default "eu": the callback names accounts.zoho.eu, tokens
    name www.zohoapis.eu). `require_pkce` makes every provider but Pipedrive refuse an authorize
    request without an S256 challenge. `code_lifetime_seconds` replaces every provider's code lifetime.
    """

    def __init__(
        self,
        clients: Mapping[str, Mapping[str, str]] | None = None,
        *,
        zoho_data_centre: str = "eu",
        require_pkce: bool = True,
        code_lifetime_seconds: float | None = None,
        port: int = 0,
        log: bool = False,
    ) -> None:
        if zoho_data_centre not in ZOHO_DATA_CENTRES:
            raise ValueError(f"zoho_data_centre must be one of {sorted(ZOHO_DATA_CENTRES)}")
        unknown = set(clients or {}) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"unknown providers: {sorted(unknown)}")
        self.clients: dict[str, dict[str, str]] = {}
        for provider in PROVIDERS:
            given = dict((clients or {}).get(provider) or {})
            given.setdefault("client_id", f"local-{provider}-client")
            given.setdefault("client_secret", secrets.token_urlsafe(32))
            self.clients[provider] = given
        self.zoho_data_centre = zoho_data_centre
        self.require_pkce = require_pkce
        self.code_lifetime_seconds = code_lifetime_seconds
        self.log = log
        self._port = port
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[str, dict[str, str], float]] = {}
        self._codes: dict[str, dict[str, _Code]] = {provider: {} for provider in PROVIDERS}
        self._grants: dict[str, dict[str, _Grant]] = {provider: {} for provider in PROVIDERS}
        self._issued: dict[str, list[str]] = {provider: [] for provider in PROVIDERS}
        self._exchanges: dict[str, list[Exchange]] = {provider: [] for provider in PROVIDERS}
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle and URLs --------------------------------------------------------------------

    def start(self) -> "FakeCrms":
        """Serve on 127.0.0.1 (a free port unless one was given); returns self."""
        if self._server is not None:
            return self
        handler = type("_BoundHandler", (_Handler,), {"crms": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", self._port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-crms", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> "FakeCrms":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash)."""
        if self._server is None:
            raise FakeCrmError("the fake CRMs are not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def authorize_url(self, provider: str) -> str:
        """The provider's fake authorize endpoint (OAUTH_AUTHORIZE_URL_<PROVIDER>)."""
        return f"{self.base_url}/{_known(provider)}/authorize"

    def token_url(self, provider: str) -> str:
        """The provider's fake token endpoint (OAUTH_TOKEN_URL_<PROVIDER>)."""
        return f"{self.base_url}/{_known(provider)}/token"

    def env(self) -> dict[str, str]:
        """OAUTH_AUTHORIZE_URL_<PROVIDER> and OAUTH_TOKEN_URL_<PROVIDER> of every provider."""
        env: dict[str, str] = {}
        for provider in PROVIDERS:
            env[AUTHORIZE_ENV_PREFIX + provider.upper()] = self.authorize_url(provider)
            env[TOKEN_ENV_PREFIX + provider.upper()] = self.token_url(provider)
        return env

    # ---- what tests inspect --------------------------------------------------------------------

    def issued(self, provider: str) -> list[str]:
        """Every secret the provider minted, in order: codes, access, refresh and ID tokens."""
        with self._lock:
            return list(self._issued[_known(provider)])

    def exchanges(self, provider: str) -> list[Exchange]:
        """Every token request the provider answered (both grants), in order."""
        with self._lock:
            return list(self._exchanges[_known(provider)])

    def consent(self, authorize_url: str, allow: bool = True) -> str:
        """Open `authorize_url` (on this fake), press Allow or Deny, return the redirect's Location.

        Raises FakeCrmError with the page's text when the authorize step refuses the request.
        """
        if not authorize_url.startswith(self.base_url + "/"):
            raise FakeCrmError("the authorize URL is not one of this fake's")
        return press_consent(authorize_url, allow)

    # ---- authorize and consent -----------------------------------------------------------------

    def _check_authorize(self, provider: str, query: dict[str, str]) -> str | None:
        """The reason the provider would refuse this authorize request, or None."""
        spec = _SPECS[provider]
        client = self.clients[provider]
        if not query.get("client_id"):
            return "client_id is missing."
        if query["client_id"] != client["client_id"]:
            return "client_id is not a known application."
        redirect_uri = query.get("redirect_uri", "")
        if urllib.parse.urlsplit(redirect_uri).scheme not in ("http", "https"):
            return "redirect_uri is missing or not an http(s) URL."
        registered = client.get("redirect_uri")
        if registered is not None and redirect_uri != registered:
            return "redirect_uri does not match the one registered for the application."
        if query.get("response_type") != "code":
            return "unsupported_response_type: response_type must be code."
        if not query.get("state"):
            return "state is missing (the service always sends one)."
        if spec.scope_required and not query.get("scope", "").strip():
            return "scope is required."
        for name, value in spec.required:
            if query.get(name) != value:
                return f"{name} must be {value} (else {spec.title} issues no usable refresh token)."
        challenge = query.get("code_challenge")
        if challenge is not None or "code_challenge_method" in query:
            if query.get("code_challenge_method") != "S256" or not _S256.match(challenge or ""):
                return "code_challenge must be an S256 challenge with code_challenge_method=S256."
            if not spec.pkce:
                return f"code_challenge: {spec.title} takes no PKCE challenge."
        elif spec.pkce and self.require_pkce:
            return "code_challenge (PKCE S256) is required."
        return None

    def _scopes(self, provider: str, query: Mapping[str, str]) -> list[str]:
        separator = _SPECS[provider].scope_separator
        scope = query.get("scope", "")
        if separator is None or not scope:
            return []
        return [part for part in scope.split(separator) if part]

    def _pend(self, provider: str, query: dict[str, str]) -> str:
        request_id = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            for stale in [
                key for key, (_, _, at) in self._pending.items() if now - at > PENDING_LIFETIME_SECONDS
            ]:
                del self._pending[stale]
            self._pending[request_id] = (provider, query, now)
        return request_id

    def _decide(self, provider: str, request_id: str, allow: bool) -> str | None:
        """The Location for the decision on a pending request, or None when it is unknown."""
        with self._lock:
            pending = self._pending.pop(request_id, None)
        if pending is None or pending[0] != provider:
            return None
        _, query, _ = pending
        redirect_uri, state = query["redirect_uri"], query["state"]
        if not allow:
            params = {
                "error": "access_denied",
                "error_description": "The user denied the request (fake).",
                "state": state,
            }
            return _with_query(redirect_uri, params)
        code = _token("aPrx" if provider == "salesforce" else "")
        with self._lock:
            self._codes[provider][code] = _Code(
                query["client_id"],
                redirect_uri,
                query.get("code_challenge"),
                query.get("scope"),
                time.monotonic(),
            )
            self._issued[provider].append(code)
        params = {"code": code, "state": state}
        if provider == "zoho":
            accounts, _, location = ZOHO_DATA_CENTRES[self.zoho_data_centre]
            params.update({"location": location, "accounts-server": f"https://{accounts}"})
        return _with_query(redirect_uri, params)

    # ---- token endpoint ------------------------------------------------------------------------

    def _token_request(
        self, provider: str, content_type: str, query: str, body: bytes, authorization: str | None
    ) -> tuple[int, dict[str, Any]]:
        grant_type, client_id = "", None
        try:
            form = _token_form(provider, content_type, query, body)
            grant_type = form.get("grant_type", "")
            client_id = self._authenticate(provider, form, authorization)
            if grant_type == "authorization_code":
                answer = self._exchange_code(provider, form, client_id)
            elif grant_type == "refresh_token":
                answer = self._refresh(provider, form, client_id)
            elif not grant_type:
                raise _refusal(provider, "request", "Missing parameter: grant_type")
            else:
                raise _refusal(provider, "grant_type", "Unsupported grant type: grant_type is invalid")
        except _RefusalError as refusal:
            error = refusal.body.get("error") or refusal.body.get("status") or refusal.body.get("message")
            with self._lock:
                self._exchanges[provider].append(Exchange(grant_type, client_id, refusal.status, str(error)))
            return refusal.status, refusal.body
        with self._lock:
            self._exchanges[provider].append(Exchange(grant_type, client_id, 200, None))
        return 200, answer

    def _authenticate(self, provider: str, form: dict[str, str], authorization: str | None) -> str:
        client = self.clients[provider]
        if _SPECS[provider].basic_auth:
            if "client_id" in form or "client_secret" in form:
                raise _refusal(
                    provider, "request", "Invalid request: client credentials belong in HTTP Basic"
                )
            client_id, secret = _basic(authorization)
            if client_id is None:
                raise _refusal(provider, "client", "Invalid client: cannot retrieve client credentials")
        else:
            if authorization is not None:
                raise _refusal(provider, "request", "client credentials belong in the form body")
            client_id, secret = form.get("client_id"), form.get("client_secret", "")
            if not client_id or not secret:
                raise _refusal(provider, "request", "client_id and client_secret are required.")
        if client_id != client["client_id"]:
            raise _refusal(provider, "client", "Invalid client: client is invalid")
        if not hmac.compare_digest(secret.encode(), client["client_secret"].encode()):
            raise _refusal(provider, "secret", "Invalid client secret provided.")
        return client_id

    def _exchange_code(self, provider: str, form: dict[str, str], client_id: str) -> dict[str, Any]:
        spec = _SPECS[provider]
        code, redirect_uri = form.get("code", ""), form.get("redirect_uri", "")
        if not code or not redirect_uri:
            raise _refusal(provider, "request", "code and redirect_uri are required.")
        if spec.scope_at_exchange and not form.get("scope", "").strip():
            raise _refusal(
                provider, "request", "The request body must contain the following parameter: 'scope'."
            )
        lifetime = (
            self.code_lifetime_seconds if self.code_lifetime_seconds is not None else spec.code_lifetime
        )
        with self._lock:
            grant = self._codes[provider].get(code)
            if grant is None or grant.client_id != client_id:
                raise _refusal(provider, "code", "Invalid grant: authorization_code is invalid")
            if grant.used:
                raise _refusal(
                    provider, "used_code", "Invalid grant: authorization_code was already redeemed"
                )
            # Single use whatever comes next: a failed exchange burns the code too.
            grant.used = True
        if time.monotonic() - grant.issued > lifetime:
            raise _refusal(provider, "expired_code", "Invalid grant: authorization_code has expired")
        if redirect_uri != grant.redirect_uri:
            raise _refusal(
                provider, "redirect", "redirect_uri does not match the one of the authorize request."
            )
        verifier = form.get("code_verifier")
        if grant.challenge is not None and (
            verifier is None or not _VERIFIER.match(verifier) or _s256(verifier) != grant.challenge
        ):
            raise _refusal(provider, "verifier", "invalid code verifier")
        if grant.challenge is None and verifier is not None:
            # OAuth 2.1: a verifier for a code issued without a challenge is refused.
            raise _refusal(provider, "verifier", "code_verifier sent for a code issued without a challenge")
        scope = form.get("scope") if spec.scope_at_exchange else grant.scope
        return self._answer(provider, client_id, scope, refresh_token=None, first=True)

    def _refresh(self, provider: str, form: dict[str, str], client_id: str) -> dict[str, Any]:
        refresh_token = form.get("refresh_token", "")
        if _SPECS[provider].scope_at_exchange and not form.get("scope", "").strip():
            raise _refusal(
                provider, "request", "The request body must contain the following parameter: 'scope'."
            )
        now = time.monotonic()
        with self._lock:
            grant = self._grants[provider].get(refresh_token)
            if not refresh_token or grant is None or grant.client_id != client_id:
                raise _refusal(provider, "refresh", "Invalid grant: refresh_token is invalid")
            if provider == "zoho":
                grant.minted = [at for at in grant.minted if now - at < ZOHO_WINDOW_SECONDS]
                if len(grant.minted) >= ZOHO_TOKENS_PER_WINDOW:
                    raise _refusal(
                        provider,
                        "rate",
                        "You have made too many requests continuously. Please try again after some time.",
                    )
                grant.minted.append(now)
        return self._answer(provider, client_id, grant.scope, refresh_token=refresh_token, first=False)

    def _answer(
        self, provider: str, client_id: str, scope: str | None, *, refresh_token: str | None, first: bool
    ) -> dict[str, Any]:
        """A successful token response: new tokens recorded, in the provider's documented shape."""
        spec = _SPECS[provider]
        access_token = _token("00D000000000FAKE!" if provider == "salesforce" else "")
        new_refresh: str | None = refresh_token
        if _offers_refresh_token(provider, scope) if first else spec.rotates:
            new_refresh = _token()
        issued = [access_token]
        with self._lock:
            if new_refresh is not None and new_refresh != refresh_token:
                self._grants[provider][new_refresh] = _Grant(client_id, scope)
                issued.append(new_refresh)
        body: dict[str, Any] = {"access_token": access_token}
        # Salesforce and Zoho send no refresh token on refresh; HubSpot and Pipedrive repeat it.
        send_refresh = new_refresh is not None and (first or provider in ("hubspot", "pipedrive", "dynamics"))
        if send_refresh:
            body["refresh_token"] = new_refresh
        if provider == "salesforce":
            body.update(self._salesforce_fields(client_id, scope))
        elif provider == "hubspot":
            body.update(token_type="bearer", expires_in=spec.access_lifetime)
        elif provider == "pipedrive":
            body.update(
                token_type="Bearer",
                expires_in=spec.access_lifetime,
                scope="base,deals:full,contacts:full",
                api_domain="https://fake-company.pipedrive.com",
            )
        elif provider == "zoho":
            _, api_host, _ = ZOHO_DATA_CENTRES[self.zoho_data_centre]
            body.update(
                api_domain=f"https://{api_host}", token_type="Bearer", expires_in=spec.access_lifetime
            )
            if scope:
                body["scope"] = scope
        else:
            body.update(token_type="Bearer", scope=scope or "", expires_in=spec.access_lifetime)
            body["ext_expires_in"] = spec.access_lifetime
            if "openid" in (scope or "").split():
                body["id_token"] = self._id_token(client_id)
                issued.append(body["id_token"])
        with self._lock:
            self._issued[provider].extend(issued)
        return body

    def _salesforce_fields(self, client_id: str, scope: str | None) -> dict[str, Any]:
        identity = "https://login.salesforce.com/id/00D000000000FAKEAA/005000000000FAKEAA"
        issued_at = str(int(time.time() * 1000))
        # As Salesforce signs it: HMAC-SHA256 of id + issued_at under the client secret, base64.
        key = self.clients["salesforce"]["client_secret"].encode()
        signature = base64.b64encode(hmac.new(key, (identity + issued_at).encode(), hashlib.sha256).digest())
        return {
            "signature": signature.decode("ascii"),
            "scope": scope or "api refresh_token",
            "instance_url": "https://fake-company.my.salesforce.com",
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
        }

    def _id_token(self, client_id: str) -> str:
        """An ID token shaped as Microsoft's (RS256 header, tid/oid claims); its signature is fake."""
        now = int(time.time())
        claims = {
            "aud": client_id,
            "iss": f"https://login.microsoftonline.com/{DYNAMICS_TENANT_ID}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "tid": DYNAMICS_TENANT_ID,
            "oid": "00000000-0000-0000-0000-00000000fake",
            "sub": "fake-subject",
            "preferred_username": "user@fake-company.onmicrosoft.com",
            "name": "Fake User",
            "ver": "2.0",
        }
        header = {"alg": "RS256", "typ": "JWT", "kid": "fake"}
        parts = [_b64url(json.dumps(value).encode()) for value in (header, claims)]
        return ".".join([*parts, _b64url(secrets.token_bytes(64))])

    # ---- pages ---------------------------------------------------------------------------------

    def index_page(self) -> str:
        rows = "".join(
            f"<tr><td>{name}</td><td>{html.escape(self.authorize_url(name))}</td>"
            f"<td>{html.escape(self.token_url(name))}</td>"
            f"<td>{html.escape(self.clients[name]['client_id'])}</td></tr>"
            for name in PROVIDERS
        )
        return _page(
            "Fake CRMs",
            "<h1>Fake CRMs</h1><p>OAuth authorize and token endpoints for local development.</p>"
            "<table><tr><th>provider</th><th>authorize</th><th>token</th><th>client_id</th></tr>"
            f"{rows}</table>",
        )

    def consent_page(self, provider: str, query: dict[str, str], request_id: str) -> str:
        spec = _SPECS[provider]
        app = html.escape(query["client_id"])
        scopes = self._scopes(provider, query)
        if provider == "hubspot" and query.get("optional_scope"):
            scopes += [f"{scope} (optional)" for scope in query["optional_scope"].split() if scope]
        listed = "".join(f"<li>{html.escape(scope)}</li>" for scope in scopes) or (
            "<li>the scopes set in the app's registration</li>"
        )
        title = f"{spec.title} (fake) — {app} wants access"
        return _page(
            title,
            f"<h1>{html.escape(spec.title)} (fake) — {app} wants access</h1>"
            f"<p>It asks for:</p><ul>{listed}</ul>"
            f"<p>You will be sent back to {html.escape(query['redirect_uri'])}</p>"
            f'<form method="post" action="/{provider}/consent">'
            f'<input type="hidden" name="request" value="{request_id}">'
            '<button id="allow" type="submit" name="decision" value="allow">Allow</button> '
            '<button id="deny" type="submit" name="decision" value="deny">Deny</button>'
            "</form>",
        )


def press_consent(authorize_url: str, allow: bool = True) -> str:
    """Open a fake CRM's `authorize_url` over HTTP (in this process or another: `make run
    FAKE_CRMS=1`'s), press Allow or Deny on its consent page, return the redirect's Location.

    Raises FakeCrmError with the page's text when the authorize step refuses the request.
    """
    parts = urllib.parse.urlsplit(authorize_url)
    base = f"{parts.scheme}://{parts.netloc}"
    provider = parts.path.strip("/").split("/")[0]
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(authorize_url, timeout=10) as response:
            page = response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        text = re.sub(r"<[^>]+>", " ", error.read().decode("utf-8", "replace"))
        raise FakeCrmError(f"authorize refused ({error.code}): {' '.join(text.split())}") from None
    match = _PENDING_FIELD.search(page)
    if match is None:
        raise FakeCrmError("the authorize step answered no consent page")
    form = urllib.parse.urlencode({"request": match.group(1), "decision": "allow" if allow else "deny"})
    request = urllib.request.Request(  # noqa: S310 (our own http URL)
        f"{base}/{provider}/consent",
        data=form.encode("ascii"),
        headers={"Content-Type": _FORM},
        method="POST",
    )
    try:
        opener.open(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code in (302, 303) and error.headers.get("Location"):
            return str(error.headers["Location"])
        raise FakeCrmError(f"consent answered HTTP {error.code}") from None
    raise FakeCrmError("consent answered no redirect")


def _known(provider: str) -> str:
    if provider not in _SPECS:
        raise ValueError(f"unknown provider {provider!r}")
    return provider


def _offers_refresh_token(provider: str, scope: str | None) -> bool:
    """Whether the code exchange answers a refresh token for the scopes granted."""
    if provider == "salesforce":
        return scope is None or bool({"refresh_token", "offline_access"} & set(scope.split()))
    if provider == "dynamics":
        return "offline_access" in (scope or "").split()
    return True


def _with_query(url: str, params: Mapping[str, str]) -> str:
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return f"{url}{'&' if '?' in url else '?'}{query}"


def _single(pairs: list[tuple[str, str]]) -> dict[str, str] | None:
    """The parameters as a dict, or None when one is repeated (providers refuse that)."""
    result: dict[str, str] = {}
    for key, value in pairs:
        if key in result:
            return None
        result[key] = value
    return result


def _token_form(provider: str, content_type: str, query: str, body: bytes) -> dict[str, str]:
    if content_type.split(";")[0].strip().lower() != _FORM:
        raise _refusal(
            provider, "request", "Invalid request: content must be application/x-www-form-urlencoded"
        )
    if query:
        # Secrets in a query string end up in access logs: the service must never send them so.
        raise _refusal(provider, "request", "parameters belong in the form body, not the query string.")
    try:
        pairs = urllib.parse.parse_qsl(
            body.decode("ascii"), keep_blank_values=True, strict_parsing=bool(body)
        )
    except (UnicodeDecodeError, ValueError):
        raise _refusal(provider, "request", "the form body is malformed.") from None
    form = _single(pairs)
    if form is None:
        raise _refusal(provider, "request", "a parameter is repeated.")
    return form


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


def _page(title: str, content: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{content}</body></html>"
    )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Handler(BaseHTTPRequestHandler):
    crms: FakeCrms
    server_version = "FakeCRM/1"

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        if parts.path in ("/", ""):
            self._html(200, self.crms.index_page())
            return
        provider, action = self._route(parts.path)
        if provider is None or action != "authorize":
            self._html(404, _page("Not found", "<h1>Not found</h1>"))
            return
        query = _single(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
        problem = "a parameter is repeated." if query is None else self.crms._check_authorize(provider, query)
        if problem is not None or query is None:
            title = f"{_SPECS[provider].title} (fake): error"
            self._html(400, _page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(problem or '')}</p>"))
            return
        request_id = self.crms._pend(provider, query)
        self._html(200, self.crms.consent_page(provider, query, request_id))

    def do_POST(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        provider, action = self._route(parts.path)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            self._json(413, {"error": "invalid_request", "error_description": "body too large"})
            return
        body = self.rfile.read(length) if length else b""
        if provider is not None and action == "token":
            status, answer = self.crms._token_request(
                provider,
                self.headers.get("Content-Type", ""),
                parts.query,
                body,
                self.headers.get("Authorization"),
            )
            self._json(status, answer)
            return
        if provider is not None and action == "consent":
            form = dict(urllib.parse.parse_qsl(body.decode("latin-1"), keep_blank_values=True))
            location = self.crms._decide(provider, form.get("request", ""), form.get("decision") == "allow")
            if location is None:
                self._html(400, _page("Expired", "<h1>This consent request is unknown or expired.</h1>"))
                return
            self.send_response(303)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            return
        self._html(404, _page("Not found", "<h1>Not found</h1>"))

    def _route(self, path: str) -> tuple[str | None, str]:
        segments = path.strip("/").split("/")
        if len(segments) == 2 and segments[0] in _SPECS:
            return segments[0], segments[1]
        return None, ""

    def _html(self, status: int, page: str) -> None:
        self._send(status, "text/html; charset=utf-8", page.encode("utf-8"))

    def _json(self, status: int, body: dict[str, Any]) -> None:
        self._send(status, "application/json;charset=UTF-8", json.dumps(body).encode())

    def _send(self, status: int, content_type: str, raw: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(raw)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The method and the path, never the query string: it carries codes, states and challenges.
        if self.crms.log:
            path = urllib.parse.urlsplit(self.path).path
            sys.stderr.write(f"fake CRMs: {self.command} {path} {code}\n")

    def log_error(self, format: str, *args: Any) -> None:
        # http.server's messages can quote the raw request line (with its query string).
        if self.crms.log:
            sys.stderr.write("fake CRMs: a malformed request\n")


def main() -> int:
    """`python -m fake_crms`: serve the fakes (PORT, else a free port) until Ctrl-C."""
    import os

    crms = FakeCrms(port=int(os.environ.get("PORT", "0")), log=True).start()
    print(f"Fake CRMs on {crms.base_url}/")
    for name, value in crms.env().items():
        print(f"export {name}={value}")
    for provider, client in crms.clients.items():
        print(f"{provider}: client_id={client['client_id']} client_secret={client['client_secret']}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        crms.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
