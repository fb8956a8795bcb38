"""The audit channel: one structured record per request, as one JSON line with a fixed marker.

In AWS the line goes to the function's log stream, from where template.yaml's subscription
filters route every line carrying the marker to the audit archive (its own store and retention).
Locally, AUDIT_LOG_FILE names a file to append to instead. Emitting costs no DynamoDB or KMS call.

No secret is ever in a record: principals are API key ids or JWT subjects, and where a record
must show which key, token or access token was involved it carries the service's HMAC of it.
"""

import json
import os
import sys
import threading
from datetime import UTC, datetime
from typing import Any

from ..core.constants import TIMESTAMP_FORMAT
from ..core.errors import CredentialsError
from .auth import Principal
from .parameters import service_hmac

MARKER = "integration-credentials/v1"
_file_lock = threading.Lock()
# What json.dumps(record, separators=(",", ":"), ensure_ascii=False) builds on every call, built once.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def hmac_or_none(value: str | None) -> str | None:
    """The service HMAC of a value, or None when there is no value or no key to be had:
    an audit record never fails the request it describes."""
    if not value:
        return None
    try:
        return service_hmac(value.encode())
    except CredentialsError:
        return None


class AuditRecord:
    """What one request did, filled in as the request goes. (A plain class: a dataclass compiles
    its methods from source at every cold start, `core.frozen`.)"""

    __slots__ = (
        "action",
        "credentials_id",
        "extra",
        "principal",
        "provider",
        "reason",
        "request_id",
        "source_ip",
        "user_agent",
    )

    def __init__(
        self,
        action: str,
        request_id: str,
        source_ip: str,
        user_agent: str,
        credentials_id: str | None = None,
        provider: str | None = None,
        principal: Principal | None = None,
        reason: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.action = action
        self.request_id = request_id
        self.source_ip = source_ip
        self.user_agent = user_agent
        self.credentials_id: str | None = credentials_id
        self.provider: str | None = provider
        self.principal: Principal | None = principal
        self.reason: str | None = reason
        self.extra: dict[str, Any] = {} if extra is None else extra

    @classmethod
    def start(cls, event: dict[str, Any], action: str) -> "AuditRecord":
        """A record for an API Gateway (HTTP API v2) event."""
        context = event.get("requestContext") or {}
        http = context.get("http") or {}
        path = event.get("pathParameters") or {}
        return cls(
            action=action,
            request_id=str(context.get("requestId", "")),
            source_ip=str(http.get("sourceIp", "")),
            user_agent=str(http.get("userAgent", ""))[:256],
            credentials_id=path.get("credentials_id"),
            provider=path.get("provider"),
        )

    def acted_on(self, credentials_id: str, provider: str) -> None:
        """Name the credentials the request acted on (the service does, once it has read them)."""
        self.credentials_id, self.provider = credentials_id, provider

    def authentication_failed(self, headers: dict[str, str]) -> None:
        """Note a refused caller, identifying what it presented only by HMAC."""
        lowered = {name.lower(): value for name, value in headers.items()}
        self.reason = "authentication_failed"
        self.extra["api_key_hmac"] = hmac_or_none(lowered.get("x-api-key"))
        self.extra["authorization_hmac"] = hmac_or_none(lowered.get("authorization"))

    def emit(self, status: int) -> dict[str, Any]:
        """Write the record (stdout, or AUDIT_LOG_FILE) and return it."""
        principal = self.principal
        record = {
            "audit": MARKER,
            "time": datetime.now(UTC).strftime(TIMESTAMP_FORMAT),
            "request_id": self.request_id,
            "action": self.action,
            "org_id": principal.org_id if principal else None,
            "principal_type": principal.method if principal else None,
            "principal_id": principal.subject if principal else None,
            "credentials_id": self.credentials_id,
            "provider": self.provider,
            "status": status,
            "outcome": "success" if status < 400 else "denied" if status in (401, 403) else "error",
            "reason": self.reason,
            "source_ip": self.source_ip,
            "user_agent": self.user_agent,
            **{name: value for name, value in self.extra.items() if value is not None},
        }
        line = _ENCODER.encode(record)
        path = os.environ.get("AUDIT_LOG_FILE")
        # Never fail a request over its audit line: a file that cannot be written falls back to stdout.
        if not (path and _append(path, line)):
            sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return record


# What the service takes to name the credentials a request acted on (None: nobody audits).
Audit = AuditRecord | None


def _append(path: str, line: str) -> bool:
    try:
        with _file_lock:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
            with open(path, "a", encoding="utf-8") as audit_file:
                audit_file.write(line + "\n")
    except OSError:
        return False
    return True
