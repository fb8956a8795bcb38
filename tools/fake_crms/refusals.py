"""Token endpoint errors in each provider's documented shape and status."""

import time
import uuid
from typing import Any

# What went wrong, in the fake's words; each provider names it its own way below.
KINDS = (
    "request",  # malformed: not a form, a missing or repeated or unknown parameter
    "grant_type",
    "client",  # unknown client id (or no client credentials where HTTP Basic is required)
    "secret",
    "code",  # a code the provider never issued (or issued to another client)
    "expired_code",
    "used_code",
    "redirect",
    "verifier",
    "scope",  # a scope beyond the consented one
    "refresh",  # a refresh token the provider never issued (or issued to another client)
    "revoked",  # a refresh token the provider (or the user) revoked
    "inactive",  # a refresh token unused for too long
    "rate",
)
RATE_LIMITED = "You have made too many requests continuously. Please try again after some time."


class RefusalError(Exception):
    """The token endpoint's answer to a request it refuses."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status = status
        self.body = body
        super().__init__(status)

    @property
    def error(self) -> str:
        return str(self.body.get("error") or self.body.get("status") or self.body.get("message"))


def refusal(provider: str, kind: str, description: str) -> RefusalError:
    """A token endpoint error of `kind` (one of KINDS) in `provider`'s shape."""
    if kind not in KINDS:
        raise ValueError(f"unknown refusal {kind!r}")
    if provider == "hubspot":
        return _hubspot(kind, description)
    if provider == "pipedrive":
        # https://pipedrive.readme.io/docs/marketplace-oauth-and-api-proxy-status-codes
        status = 401 if kind in ("client", "secret") else 400
        return RefusalError(status, {"success": False, "message": description})
    if provider == "zoho":
        return _zoho(kind, description)
    if provider == "dynamics":
        return _microsoft(kind, description)
    error = {  # Salesforce: OAuth 2.0 errors, and its own invalid_client_id
        "request": "invalid_request",
        "grant_type": "unsupported_grant_type",
        "client": "invalid_client_id",
        "secret": "invalid_client",
        "redirect": "redirect_uri_mismatch",
        "scope": "invalid_scope",
        "rate": "invalid_grant",
    }.get(kind, "invalid_grant")
    return RefusalError(400, {"error": error, "error_description": description})


def _hubspot(kind: str, description: str) -> RefusalError:
    status = {
        "client": "BAD_CLIENT_ID",
        "secret": "BAD_CLIENT_ID",
        "code": "BAD_AUTH_CODE",
        "expired_code": "BAD_AUTH_CODE",
        "used_code": "BAD_AUTH_CODE",
        "verifier": "BAD_AUTH_CODE",
        "redirect": "BAD_REDIRECT_URI",
        "refresh": "BAD_REFRESH_TOKEN",
        "revoked": "BAD_REFRESH_TOKEN",
        "inactive": "BAD_REFRESH_TOKEN",
        "grant_type": "BAD_GRANT_TYPE",
        "scope": "BAD_SCOPES",
    }.get(kind, "BAD_REQUEST")
    body = {"status": status, "message": description, "correlationId": str(uuid.uuid4())}
    return RefusalError(429 if kind == "rate" else 400, body)


def _zoho(kind: str, description: str) -> RefusalError:
    if kind == "rate":
        return RefusalError(
            400, {"error_description": RATE_LIMITED, "error": "Access Denied", "status": "failure"}
        )
    error = {
        "client": "invalid_client",
        "secret": "invalid_client_secret",
        "redirect": "invalid_redirect_uri",
        "grant_type": "unsupported_grant_type",
        "request": "invalid_request",
        "scope": "invalid_scope",
    }.get(kind, "invalid_code")
    return RefusalError(200, {"error": error})  # Zoho answers its errors with HTTP 200


_AADSTS = {  # kind -> (AADSTS code, error, status), as Microsoft Entra ID answers them
    "request": (900144, "invalid_request", 400),
    "grant_type": (70003, "unsupported_grant_type", 400),
    "client": (700016, "unauthorized_client", 400),
    "secret": (7000215, "invalid_client", 401),
    "code": (70000, "invalid_grant", 400),
    "used_code": (54005, "invalid_grant", 400),
    "expired_code": (70008, "invalid_grant", 400),
    "redirect": (50011, "invalid_request", 400),
    "verifier": (50148, "invalid_grant", 400),
    "scope": (70011, "invalid_scope", 400),
    "refresh": (9002313, "invalid_grant", 400),
    "revoked": (50173, "invalid_grant", 400),
    "inactive": (700082, "invalid_grant", 400),
    "rate": (50196, "temporarily_unavailable", 429),
}


def _microsoft(kind: str, description: str) -> RefusalError:
    aadsts, error, status = _AADSTS[kind]
    trace, correlation = uuid.uuid4(), uuid.uuid4()
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return RefusalError(
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
