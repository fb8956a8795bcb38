"""What each CRM's OAuth endpoints demand and answer, as its documentation describes them
(../shared/PROVIDERS.md names the pages): one spec per provider, no behaviour."""

from dataclasses import dataclass

PROVIDERS = ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics")
AUTHORIZE_ENV_PREFIX = "OAUTH_AUTHORIZE_URL_"
TOKEN_ENV_PREFIX = "OAUTH_TOKEN_URL_"
CRM_API_ENV_PREFIX = "CRM_API_URL_"
REVOKE_ENV_PREFIX = "OAUTH_REVOKE_URL_"
# Microsoft Entra ID has no per-token revocation: the fake Dynamics has no revocation endpoint.
REVOCABLE = ("salesforce", "hubspot", "pipedrive", "zoho")
# The Dynamics tenant the fake's users belong to (the ID token's `tid`, the token path's tenant).
DYNAMICS_TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
# The company the fake's users work for: Salesforce's instance, Pipedrive's api_domain.
SALESFORCE_INSTANCE_URL = "https://mycompany.my.salesforce.com"
PIPEDRIVE_API_DOMAIN = "https://mycompany.pipedrive.com"
# Salesforce's access tokens carry no expires_in: a session lasts the org's session timeout
# (two hours by default).
SALESFORCE_SESSION_SECONDS = 7200
ZOHO_DATA_CENTRES = {  # data centre -> (accounts host, API host, the callback's `location`)
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
# Microsoft's OpenID Connect scopes: granted, but never in an access token's `scope`.
OIDC_SCOPES = frozenset({"openid", "offline_access", "profile", "email"})


@dataclass(frozen=True)
class Spec:
    """What one provider's authorize step demands and how its token endpoint behaves."""

    title: str
    token_path: str  # the documented path ({tenant}: Microsoft's tenant segment)
    authorize_path: str
    scope_required: bool
    scope_separator: str | None  # None: no scope parameter (the app registration sets them)
    pkce: bool  # PKCE S256 accepted, and required when the fake requires PKCE
    basic_auth: bool  # client credentials in HTTP Basic only, never in the form
    scope_at_exchange: bool  # the token requests repeat the scope (Microsoft)
    code_lifetime: float  # seconds
    access_lifetime: int | None  # expires_in; None: not sent (Salesforce)
    required: tuple[tuple[str, str], ...] = ()  # further authorize parameters and their values
    rotates: bool = False  # a refresh answers a new refresh token
    echoes_refresh_token: bool = False  # a refresh answers the same refresh token again
    # The form parameters each grant may carry (client credentials included where they go in
    # the form); the fake refuses others, stricter than the providers, so the service sends
    # only what is documented.
    refresh_form: frozenset[str] = frozenset()
    code_form: frozenset[str] = frozenset()


_CLIENT = frozenset({"client_id", "client_secret"})
_REFRESH = frozenset({"grant_type", "refresh_token"})
_CODE = frozenset({"grant_type", "code", "redirect_uri"})

SPECS: dict[str, Spec] = {
    # Web server flow: scope optional (the connected app's); a refresh token only with the
    # refresh_token (or offline_access) scope; the code lives 15 minutes; the answer has
    # instance_url, id, issued_at, signature and no expires_in; a refresh sends no new refresh
    # token unless the connected app rotates them (`FakeCrms(salesforce_rotation=True)`).
    "salesforce": Spec(
        "Salesforce",
        "/services/oauth2/token",
        "/services/oauth2/authorize",
        False,
        " ",
        True,
        False,
        False,
        900,
        None,
        refresh_form=_REFRESH | _CLIENT,
        code_form=_CODE | _CLIENT | {"code_verifier"},
    ),
    # https://app.hubspot.com/oauth/authorize: scope required, optional_scope, PKCE (the token
    # reference takes code_verifier); 30-minute tokens; a refresh answers the same refresh token.
    "hubspot": Spec(
        "HubSpot",
        "/oauth/v3/token",
        "/oauth/authorize",
        True,
        " ",
        True,
        False,
        False,
        600,
        1800,
        echoes_refresh_token=True,
        refresh_form=_REFRESH | _CLIENT,
        code_form=_CODE | _CLIENT | {"code_verifier"},
    ),
    # client_id, redirect_uri, state; no PKCE; HTTP Basic at the token endpoint; the code lives
    # 5 minutes; a refresh answers the same refresh token.
    "pipedrive": Spec(
        "Pipedrive",
        "/oauth/token",
        "/oauth/authorize",
        False,
        None,
        False,
        True,
        False,
        300,
        3599,
        echoes_refresh_token=True,
        refresh_form=_REFRESH,
        code_form=_CODE,
    ),
    # comma-separated scope, access_type=offline, prompt=consent, PKCE (optional for
    # server-based clients); the code lives 2 minutes; no refresh token on refresh; HTTP 200
    # with {"error": ...} on failures.
    "zoho": Spec(
        "Zoho",
        "/oauth/v2/token",
        "/oauth/v2/auth",
        True,
        ",",
        True,
        False,
        False,
        120,
        3600,
        required=(("access_type", "offline"), ("prompt", "consent")),
        refresh_form=_REFRESH | _CLIENT,
        code_form=_CODE | _CLIENT | {"code_verifier"},
    ),
    # Microsoft identity platform v2.0: scope required (offline_access for a refresh token),
    # PKCE; both grants repeat the scope (a subset of the consented one); a new refresh token
    # every refresh.
    "dynamics": Spec(
        "Microsoft",
        "/{tenant}/oauth2/v2.0/token",
        "/{tenant}/oauth2/v2.0/authorize",
        True,
        " ",
        True,
        False,
        True,
        600,
        4788,
        rotates=True,
        refresh_form=_REFRESH | _CLIENT | {"scope"},
        code_form=_CODE | _CLIENT | {"code_verifier", "scope"},
    ),
}


def known(provider: str) -> str:
    if provider not in SPECS:
        raise ValueError(f"unknown provider {provider!r}")
    return provider


def offers_refresh_token(provider: str, scope: str | None) -> bool:
    """Whether the code exchange answers a refresh token for the scopes granted."""
    if provider == "salesforce":
        return scope is None or bool({"refresh_token", "offline_access"} & set(scope.split()))
    if provider == "dynamics":
        return "offline_access" in (scope or "").split()
    return True
