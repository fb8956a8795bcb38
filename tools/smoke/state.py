"""The target and the run's state: what was created, sent and is still live, and what to audit."""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest

from .audit import AUDIT_TIMEOUT_LOCAL_SECONDS, AuditExpectation, AuditSource
from .errors import CheckFailedError
from .expect import expect, expect_credentials
from .http import HTTP_TIMEOUT_SECONDS, Http
from .plaintext import labelled_strings

BASE = "/integration-credentials"
# Shorter values ("v58.0", "deals") could turn up in ciphertext or plain attributes by chance.
MIN_SECRET_CHARS = 8


@dataclass(repr=False)
class Target:
    """Where the suite runs, and what it can see besides HTTP (its repr shows no key)."""

    base_url: str
    api_key: str
    other_api_key: str
    description: str
    dynamodb: Any = None
    table_name: str | None = None
    audit: AuditSource | None = None
    audit_timeout: float = AUDIT_TIMEOUT_LOCAL_SECONDS
    # Text stored in the clear that a short sent value could sit inside (the key ARN, with the
    # account id, is in every ciphertext's header).
    public_text: tuple[str, ...] = ()
    http_timeout: float = HTTP_TIMEOUT_SECONDS
    # A key of the first org with `credentials:write` only (the scope rule's check skips without it).
    write_only_api_key: str | None = None

    def __repr__(self) -> str:
        return f"Target({self.base_url!r}, {self.description!r})"


@dataclass(repr=False)
class SmokeRun:
    """What the flow stored, sent and expects (its repr shows none of it: values and keys)."""

    target: Target
    owner: Http
    other: Http
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    suffix: str = field(default_factory=lambda: secrets.token_hex(8))
    preflight_passed: bool = False
    org_id: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # provider -> id, of every credential created
    current: dict[str, dict[str, Any]] = field(default_factory=dict)  # provider -> as last read
    live: dict[str, str] = field(default_factory=dict)  # id -> provider, not deleted yet
    sent: dict[str, str] = field(default_factory=dict)  # secret value -> label
    audit_expected: list[AuditExpectation] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"SmokeRun({self.target!r}, {len(self.live)} credential(s) live)"

    def record_sent(self, body: Mapping[str, Any], label: str) -> None:
        """dsn, access_token and every string in metadata (keys excluded) count as secrets."""
        for name in ("dsn", "access_token", "metadata"):
            for path, value in labelled_strings(body.get(name), f"{label}.{name}"):
                if len(value) >= MIN_SECRET_CHARS:
                    self.sent.setdefault(value, path)

    def create(self, path: str, body: Mapping[str, Any], label: str) -> dict[str, Any]:
        """POST a body as the owner; remembers the id before checking anything else."""
        self.record_sent(body, label)
        reply = self.owner.post(path, body)
        if reply.status == 201:
            payload = reply.json()
            if isinstance(payload, dict) and isinstance(payload.get("id"), str):
                self.ids[body["provider"]] = payload["id"]
                self.live[payload["id"]] = body["provider"]
        created = expect_credentials(reply, 201, body, self.org_id)
        expect(created["created_at"] == created["updated_at"], f"{reply.what}: updated_at is not created_at")
        self.org_id = created["org_id"]
        self.current[body["provider"]] = created
        self.audit_expected.append(AuditExpectation("create", created["id"], 201))
        return created

    def need(self, *providers: str) -> list[str]:
        """The ids of live credentials of these providers; skips the check when one was not created."""
        missing = [p for p in providers if p not in self.current or self.ids.get(p) not in self.live]
        if missing:
            pytest.skip(f"needs the {', '.join(missing)} credentials, which an earlier check did not store")
        return [self.ids[p] for p in providers]

    def delete_live(self) -> list[str]:
        """DELETE every credential the run stored and has not deleted; what could not be, named."""
        problems = []
        for credentials_id, provider in list(self.live.items()):
            try:
                # The run's own made-up tokens: nothing to revoke at a CRM.
                reply = self.owner.delete(f"{BASE}/{credentials_id}?revoke=false")
            except CheckFailedError as failure:
                problems.append(f"{provider} {credentials_id}: {failure}")
                continue
            if reply.status in (200, 404):
                self.live.pop(credentials_id)
                self.audit_expected.append(AuditExpectation("delete", credentials_id, reply.status))
            else:
                problems.append(f"{provider} {credentials_id}: {reply.status}{reply.detail_note()}")
        return problems
