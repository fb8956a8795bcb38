"""`make smoke`: an end-to-end smoke suite over HTTP, for any stage of the service.

Targets (README "Deploying to AWS"):
- a deployed stack, `--stack-name` (SMOKE_STACK_NAME): the API URL, the tables and the audit bucket
  come from its CloudFormation outputs (boto3's usual configuration: AWS_PROFILE, AWS_REGION...);
  two API keys are minted for two fresh orgs (`smoke-<uuid>`) and revoked afterwards, whatever
  happens;
- any base URL (SMOKE_BASE_URL) with the keys of two orgs that hold no credentials
  (SMOKE_API_KEY, SMOKE_OTHER_API_KEY; keys only from the environment, never argv); the table
  scan and the audit check need `--table-name` / `--audit-bucket` or `--audit-file`, else skip;
- the local stack (`make run`), the default: a loopback base URL (http://127.0.0.1:$PORT) implies
  its embedded AWS on PORT+1, the table `integration-credentials-local` and the audit file
  `.local/audit-<PORT>.jsonl` (AUDIT_LOG_FILE); without keys it mints and revokes them there.

Every check prints one PASS/FAIL/SKIP line; the exit status is 1 when any check failed, 2 when
the target could not be set up. Nothing it prints holds a token, key or secret: failures name
statuses, fields and `detail` texts, never values sent or received.
"""

import argparse
import base64
import functools
import gzip
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from pathlib import Path
from typing import Any, TextIO

import boto3
from integration_credentials.adapters.audit import MARKER as AUDIT_MARKER
from integration_credentials.core.constants import ID_MIRROR_PREFIX, ID_MIRROR_SORT_KEY

from .seed import (
    FORBIDDEN,
    SEED_BODIES,
    SEED_FIELDS,
    SEED_UPDATE,
    UNAUTHORIZED,
    VALIDATION_PROVIDER_REQUIRED,
    already_exists,
    deleted,
    not_found,
    provider_not_found,
)

BASE = "/integration-credentials"
USER_AGENT = "credentials-smoke/1"
HTTP_TIMEOUT_SECONDS = 30.0
# Locally a record is in the file before the response leaves; in AWS it goes through the log
# group's subscription and Firehose, which buffers up to 300 s (template.yaml) before writing.
AUDIT_TIMEOUT_LOCAL_SECONDS = 15.0
AUDIT_TIMEOUT_DEPLOYED_SECONDS = 600.0
AUDIT_POLL_FIRST_SECONDS = 0.25
AUDIT_POLL_MAX_SECONDS = 15.0
# Shorter values ("v58.0", "deals") could turn up in ciphertext or plain attributes by chance.
MIN_SECRET_CHARS = 8
REQUIRED_OUTPUTS = ("ApiUrl", "ApiKeysTableName", "CredentialsTableName", "AuditBucketName")
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
CUSTOM_PROVIDER = "custom"


class CheckFailedError(Exception):
    """A check's assertion failed; the message never holds a secret."""


class SkippedError(Exception):
    """A check could not run here (no table to scan, a prerequisite failed)."""


class SetupError(Exception):
    """The target cannot be set up (a missing output, keys without a base URL...)."""


# --------------------------------------------------------------------------------------------
# HTTP (standard library only)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    method: str
    path: str
    status: int
    headers: Message
    body: bytes

    @property
    def what(self) -> str:
        return f"{self.method} {self.path}"

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except ValueError:
            raise CheckFailedError(f"{self.what}: {self.status} with a body that is not JSON") from None

    def detail_note(self) -> str:
        """` (detail: '...')` for an error body: error texts hold no secret, other bodies might."""
        try:
            payload = json.loads(self.body)
        except ValueError:
            return ""
        if isinstance(payload, dict) and isinstance(payload.get("detail"), str):
            return f" (detail: {payload['detail'][:200]!r})"
        return ""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to check, never followed: it would carry X-API-Key elsewhere."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def is_loopback(url: str) -> bool:
    return (urllib.parse.urlsplit(url).hostname or "") in LOOPBACK_HOSTS


class Http:
    """Requests to one base URL with one API key (or none)."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in {"http", "https"}:
            raise SetupError(f"the base URL must be http(s)://..., not {scheme or 'a bare host'}")
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout
        handlers: list[urllib.request.BaseHandler] = [_NoRedirects()]
        if is_loopback(base_url):
            handlers.append(urllib.request.ProxyHandler({}))  # a shell's HTTP_PROXY is not for loopback
        self._opener = urllib.request.build_opener(*handlers)

    def request(self, method: str, path: str, body: Any = None) -> Reply:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key is not None:
            headers["X-API-Key"] = self.api_key
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(  # noqa: S310 (the scheme is checked in __init__)
            self.base_url + path, data=data, headers=headers, method=method
        )
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                return Reply(method, path, response.status, response.headers, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Reply(method, path, error.code, error.headers, error.read())
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise CheckFailedError(f"{method} {path}: no answer from {self.base_url} ({reason})") from None

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, body: Any = None) -> Reply:
        return self.request("POST", path, body)

    def put(self, path: str, body: Any) -> Reply:
        return self.request("PUT", path, body)

    def delete(self, path: str) -> Reply:
        return self.request("DELETE", path)


# --------------------------------------------------------------------------------------------
# Assertions that never show a value
# --------------------------------------------------------------------------------------------


def expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailedError(message)


def difference(actual: Any, expected: Any) -> str:
    """How two JSON values differ, by field names only."""
    if isinstance(actual, dict) and isinstance(expected, dict):
        if isinstance(actual.get("detail"), str) and set(expected) == {"detail"}:
            return f"detail {actual['detail'][:200]!r}, expected {expected['detail']!r}"
        missing = sorted(set(expected) - set(actual))
        extra = sorted(set(actual) - set(expected))
        differing = sorted(name for name in set(actual) & set(expected) if actual[name] != expected[name])
        parts = [
            f"{label}: {', '.join(names)}"
            for label, names in (("missing", missing), ("unexpected", extra), ("differ", differing))
            if names
        ]
        return "fields " + "; ".join(parts)
    if isinstance(actual, list) and isinstance(expected, list):
        return f"a list of {len(actual)} item(s), expected {len(expected)}" + (
            " (the same number, not the same items)" if len(actual) == len(expected) else ""
        )
    return f"a {type(actual).__name__}, expected a {type(expected).__name__}"


def expect_reply(reply: Reply, status: int, body: Any = None) -> Any:
    """The reply's JSON, when it has this status (and this exact body, when given)."""
    expect(
        reply.status == status, f"{reply.what}: expected {status}, got {reply.status}{reply.detail_note()}"
    )
    expect(
        reply.headers.get("Content-Type", "").startswith("application/json"),
        f"{reply.what}: Content-Type is not application/json",
    )
    payload = reply.json()
    if body is not None:
        expect(payload == body, f"{reply.what}: {difference(payload, body)}")
    return payload


def parse_timestamp(value: Any, what: str) -> datetime:
    expect(isinstance(value, str) and value.endswith("Z"), f"{what} is not a UTC timestamp ending in Z")
    try:
        return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")
    except ValueError:
        raise CheckFailedError(f"{what} is not ISO 8601") from None


def expect_credentials(
    reply: Reply, status: int, body: Mapping[str, Any], org_id: str | None
) -> dict[str, Any]:
    """A credentials object echoing what was sent (the seed's fields, exact values)."""
    payload: dict[str, Any] = expect_reply(reply, status)
    expect(isinstance(payload, dict), f"{reply.what}: not a credentials object")
    missing = [name for name in SEED_FIELDS if name not in payload]
    expect(not missing, f"{reply.what}: fields missing: {', '.join(missing)}")
    differing = [
        name for name in ("provider", "dsn", "access_token", "metadata") if payload[name] != body[name]
    ]
    expect(not differing, f"{reply.what}: not as sent: {', '.join(differing)}")
    try:
        expect(str(uuid.UUID(payload["id"])) == payload["id"], f"{reply.what}: id is not a canonical UUID")
    except (ValueError, TypeError, AttributeError):
        raise CheckFailedError(f"{reply.what}: id is not a UUID") from None
    if org_id is not None:
        expect(payload["org_id"] == org_id, f"{reply.what}: org_id is not the caller's org")
    parse_timestamp(payload["created_at"], f"{reply.what}: created_at")
    parse_timestamp(payload["updated_at"], f"{reply.what}: updated_at")
    return payload


# --------------------------------------------------------------------------------------------
# Finding sent values in stored bytes
# --------------------------------------------------------------------------------------------


def base64_fragments(raw: bytes) -> set[bytes]:
    """What base64 of any byte string holding `raw` must contain, at each of the 3 alignments
    (standard and URL-safe alphabets): the characters that only `raw`'s bits decide."""
    fragments = set()
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        start, end = -(-8 * offset // 6), 8 * (offset + len(raw)) // 6
        fragment = encoded[start:end]
        fragments |= {fragment, fragment.replace(b"+", b"-").replace(b"/", b"_")}
    return {fragment for fragment in fragments if fragment}


def encoded_forms(value: str) -> set[bytes]:
    """The byte forms a stored copy of a value could take: UTF-8, JSON-escaped (ASCII or not),
    and base64 of any of those."""
    plain = {
        value.encode(),
        json.dumps(value)[1:-1].encode(),
        json.dumps(value, ensure_ascii=False)[1:-1].encode(),
    }
    forms = set(plain)
    for raw in plain:
        forms |= base64_fragments(raw)
    return {form for form in forms if form}


def attribute_bytes(value: Any) -> Iterator[bytes]:
    """Every scalar inside a DynamoDB attribute value, as bytes (binary attributes as they are)."""
    for kind, inner in value.items():
        if kind in {"S", "N"}:
            yield str(inner).encode()
        elif kind == "B":
            yield bytes(inner)
        elif kind in {"SS", "NS"}:
            yield from (str(item).encode() for item in inner)
        elif kind == "BS":
            yield from (bytes(item) for item in inner)
        elif kind == "L":
            for item in inner:
                yield from attribute_bytes(item)
        elif kind == "M":
            for item in inner.values():
                yield from attribute_bytes(item)


def labelled_strings(value: Any, label: str) -> Iterator[tuple[str, str]]:
    """(label, string) for every string inside a JSON value, labelled by its path."""
    if isinstance(value, str):
        yield label, value
    elif isinstance(value, Mapping):
        for name, item in value.items():
            yield from labelled_strings(item, f"{label}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from labelled_strings(item, f"{label}[{index}]")


# --------------------------------------------------------------------------------------------
# Where the audit records land
# --------------------------------------------------------------------------------------------


def parse_records(text: str) -> Iterator[dict[str, Any]]:
    """The audit records in a text of JSON values, one a line or back to back; a record Lambda's
    JSON log format wrapped (`{"message": "<record>"}`) is unwrapped."""
    decoder = json.JSONDecoder()
    index = 0
    while index < len(text):
        while index < len(text) and text[index].isspace():
            index += 1
        if index >= len(text):
            return
        try:
            value, index = decoder.raw_decode(text, index)
        except ValueError:
            newline = text.find("\n", index)
            index = len(text) if newline < 0 else newline + 1
            continue
        if isinstance(value, dict) and isinstance(value.get("message"), str) and "audit" not in value:
            yield from parse_records(value["message"])
        elif isinstance(value, dict) and value.get("audit") == AUDIT_MARKER:
            yield value


class AuditFile:
    """The local stack's audit channel: a file it appends to (read from where it was at start)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = path.stat().st_size if path.exists() else 0

    def describe(self) -> str:
        return f"audit file {self.path}"

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        data = self.path.read_bytes()
        if len(data) < self._offset:  # replaced meanwhile: read it whole
            self._offset = 0
        end = data.rfind(b"\n") + 1  # only whole lines
        return list(parse_records(data[self._offset : max(end, self._offset)].decode("utf-8", "replace")))


class AuditBucket:
    """The deployed audit archive: Firehose objects under audit/yyyy/MM/dd/ (GZIP or plain)."""

    def __init__(self, s3: Any, bucket: str, since: datetime | None = None) -> None:
        self.s3 = s3
        self.bucket = bucket
        self.since = since or datetime.now(UTC)
        self._seen: set[str] = set()
        self._records: list[dict[str, Any]] = []

    def describe(self) -> str:
        return f"audit bucket {self.bucket}"

    def records(self) -> list[dict[str, Any]]:
        # Objects written since the run started, allowing for clock skew and a midnight between.
        oldest = self.since - timedelta(minutes=2)
        day, today = oldest.date(), datetime.now(UTC).date()
        while day <= today:
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=f"audit/{day:%Y/%m/%d}/"):
                for entry in page.get("Contents", []):
                    if entry["Key"] in self._seen or entry["LastModified"] < oldest:
                        continue
                    data = self.s3.get_object(Bucket=self.bucket, Key=entry["Key"])["Body"].read()
                    if data[:2] == b"\x1f\x8b":
                        data = gzip.decompress(data)
                    self._records.extend(parse_records(data.decode("utf-8", "replace")))
                    self._seen.add(entry["Key"])
            day += timedelta(days=1)
        return list(self._records)


AuditSource = AuditFile | AuditBucket


# --------------------------------------------------------------------------------------------
# The target and the run's state
# --------------------------------------------------------------------------------------------


@dataclass
class Target:
    """Where the suite runs, and what it can see besides HTTP."""

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


@dataclass(frozen=True)
class AuditExpectation:
    action: str
    credentials_id: str
    status: int

    def found_in(self, records: Sequence[Mapping[str, Any]]) -> bool:
        return any(
            record.get("action") == self.action
            and record.get("credentials_id") == self.credentials_id
            and record.get("status") == self.status
            for record in records
        )


@dataclass
class SmokeRun:
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
        """The ids of live credentials of these providers; SkippedError when one was not created."""
        missing = [p for p in providers if p not in self.current or self.ids.get(p) not in self.live]
        if missing:
            raise SkippedError(
                f"needs the {', '.join(missing)} credentials, which an earlier check did not store"
            )
        return [self.ids[p] for p in providers]


Check = Callable[[SmokeRun], None]


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def check_unauthenticated(run: SmokeRun) -> None:
    anonymous = Http(run.target.base_url, None, run.target.http_timeout)
    expect_reply(anonymous.get(f"{BASE}/"), 401, UNAUTHORIZED)
    unknown = Http(run.target.base_url, "sk_live_" + secrets.token_hex(20), run.target.http_timeout)
    expect_reply(unknown.get(f"{BASE}/"), 401, UNAUTHORIZED)


def check_preflight(run: SmokeRun) -> None:
    expect(run.owner.api_key != run.other.api_key, "the two API keys are the same: give two orgs' keys")
    for name, caller in (("API key", run.owner), ("other API key", run.other)):
        reply = caller.get(f"{BASE}/")
        expect(reply.status == 200, f"the {name} is refused: {reply.status}{reply.detail_note()}")
        listing = expect_reply(reply, 200)
        expect(listing == [], f"the {name}'s org already holds {len(listing)} credential(s): use a fresh org")
    run.preflight_passed = True


def check_seed_store(run: SmokeRun) -> None:
    for provider, body in SEED_BODIES.items():
        run.create(f"{BASE}/", body, f"seed {provider}")
    expect(len(set(run.ids.values())) == len(SEED_BODIES), "the seed's credentials do not have distinct ids")
    again = run.owner.post(f"{BASE}/", SEED_BODIES["salesforce"])
    expect_reply(again, 409, already_exists("salesforce"))


def custom_body(suffix: str) -> dict[str, Any]:
    """A credential of the seed's `custom` provider, with values nobody else sends."""
    return {
        "provider": CUSTOM_PROVIDER,
        "dsn": f"https://crm-{suffix}.example.com",
        "access_token": f"smoke-access-{secrets.token_urlsafe(24)}",
        "metadata": {
            "tenant": f"smoke-tenant-{suffix}",
            "nested": {"values": [f"smoke-nested-{secrets.token_hex(12)}"]},
            "remove_me": f"smoke-removed-{secrets.token_hex(12)}",
        },
    }


def check_create_without_slash(run: SmokeRun) -> None:
    run.create(BASE, custom_body(run.suffix), "custom")


def check_validation(run: SmokeRun) -> None:
    body = {"dsn": f"https://invalid-{run.suffix}.example.com", "access_token": f"smoke-invalid-{run.suffix}"}
    run.record_sent(body, "invalid body")
    expect_reply(run.owner.post(f"{BASE}/", body), 400, VALIDATION_PROVIDER_REQUIRED)


def check_read_back(run: SmokeRun) -> None:
    run.need(*SEED_BODIES)
    for provider, expected in run.current.items():
        expect_reply(run.owner.get(f"{BASE}/{expected['id']}"), 200, expected)
        expect_reply(run.owner.get(f"{BASE}/provider/{provider}"), 200, expected)
    run.audit_expected.append(AuditExpectation("get", run.ids["salesforce"], 200))


def sorted_by_id(items: Any) -> list[Any]:
    expect(isinstance(items, list), "a list was expected")
    return sorted(items, key=lambda item: str(item.get("id")) if isinstance(item, dict) else "")


def check_list(run: SmokeRun) -> None:
    run.need(*SEED_BODIES, CUSTOM_PROVIDER)
    expected = sorted_by_id(list(run.current.values()))
    for path in (BASE, f"{BASE}/"):
        listing = sorted_by_id(expect_reply(run.owner.get(path), 200))
        expect(listing == expected, f"GET {path}: {difference(listing, expected)}")


def expect_replies(replies: Sequence[Reply], status: int, bodies: Sequence[Any]) -> None:
    """Each reply has this status and its body; fails naming every one that does not."""
    problems = []
    for reply, body in zip(replies, bodies, strict=True):
        try:
            expect_reply(reply, status, body)
        except CheckFailedError as failure:
            problems.append(str(failure))
    expect(not problems, "; ".join(problems))


def check_tenancy_by_id(run: SmokeRun) -> None:
    (credentials_id,) = run.need("salesforce")
    path = f"{BASE}/{credentials_id}"
    intruder = {"access_token": f"smoke-intruder-{secrets.token_urlsafe(18)}", "metadata": {"x": None}}
    run.record_sent(intruder, "intruder update")
    attempts = [
        run.other.get(path),
        run.other.put(path, intruder),
        run.other.delete(path),
        run.other.post(f"{path}/refresh"),
    ]
    run.audit_expected.append(AuditExpectation("get", credentials_id, 403))
    expect_replies(attempts, 403, [FORBIDDEN] * len(attempts))
    # And the owner's credentials are exactly as they were.
    expect_reply(run.owner.get(path), 200, run.current["salesforce"])


def check_tenancy_by_provider(run: SmokeRun) -> None:
    run.need(*SEED_BODIES)
    providers = (*SEED_BODIES, CUSTOM_PROVIDER)
    expect_replies(
        [run.other.get(f"{BASE}/provider/{provider}") for provider in providers],
        404,
        [provider_not_found(provider) for provider in providers],
    )
    expect_replies([run.other.get(BASE), run.other.get(f"{BASE}/")], 200, [[], []])


def expect_fields(actual: Any, expected: Mapping[str, Any], names: Sequence[str], what: str) -> None:
    expect(isinstance(actual, dict), f"{what}: not a credentials object")
    differing = [name for name in names if actual.get(name) != expected[name]]
    expect(not differing, f"{what}: not as expected: {', '.join(differing)}")


# What a PUT must keep or set; status, expires_at and updated_at may move with a new token.
UPDATED_FIELDS = ("id", "org_id", "provider", "dsn", "access_token", "metadata", "created_at")


def check_update(run: SmokeRun) -> None:
    (salesforce_id, custom_id) = run.need("salesforce", CUSTOM_PROVIDER)
    # The seed's token rotation: the token is replaced, metadata keys it does not name stay.
    before = run.current["salesforce"]
    run.record_sent(SEED_UPDATE, "seed update")
    reply = run.owner.put(f"{BASE}/{salesforce_id}", SEED_UPDATE)
    updated = expect_reply(reply, 200)
    expected = {
        **before,
        "access_token": SEED_UPDATE["access_token"],
        "metadata": {**before["metadata"], **SEED_UPDATE["metadata"]},
    }
    expect_fields(updated, expected, UPDATED_FIELDS, reply.what)
    expect(
        parse_timestamp(updated["updated_at"], "updated_at")
        > parse_timestamp(before["updated_at"], "updated_at"),
        f"{reply.what}: updated_at did not move forward",
    )
    run.current["salesforce"] = updated
    run.audit_expected.append(AuditExpectation("update", salesforce_id, 200))
    expect_reply(run.owner.get(f"{BASE}/provider/salesforce"), 200, updated)

    # A JSON Merge Patch: null removes a key, a new key is added, the others stay.
    before = run.current[CUSTOM_PROVIDER]
    patch = {"metadata": {"remove_me": None, "added": f"smoke-added-{secrets.token_hex(12)}"}}
    run.record_sent(patch, "custom update")
    reply = run.owner.put(f"{BASE}/{custom_id}", patch)
    updated = expect_reply(reply, 200)
    metadata = {name: value for name, value in before["metadata"].items() if name != "remove_me"}
    expected = {**before, "metadata": {**metadata, "added": patch["metadata"]["added"]}}
    expect_fields(updated, expected, UPDATED_FIELDS, reply.what)
    run.current[CUSTOM_PROVIDER] = updated
    expect_reply(run.owner.get(f"{BASE}/{custom_id}"), 200, updated)


def check_refresh_refused(run: SmokeRun) -> None:
    for provider in ("pipedrive", CUSTOM_PROVIDER):
        (credentials_id,) = run.need(provider)
        reply = run.owner.post(f"{BASE}/{credentials_id}/refresh")
        payload = expect_reply(reply, 409)
        prefix = f"Integration credentials {credentials_id} cannot be refreshed: "
        detail = payload.get("detail") if isinstance(payload, dict) else None
        expect(
            isinstance(detail, str) and detail.startswith(prefix) and len(detail) > len(prefix),
            f"{reply.what}: detail {detail!r}, expected {prefix + '<reason>'!r}",
        )
        expect_reply(run.owner.get(f"{BASE}/{credentials_id}"), 200, run.current[provider])
    run.audit_expected.append(AuditExpectation("refresh", run.ids["pipedrive"], 409))


def check_delete(run: SmokeRun) -> None:
    (credentials_id,) = run.need("hubspot")
    path = f"{BASE}/{credentials_id}"
    expect_reply(run.owner.delete(path), 200, deleted(credentials_id))
    run.live.pop(credentials_id, None)
    run.current.pop("hubspot")
    run.audit_expected.append(AuditExpectation("delete", credentials_id, 200))
    expect_reply(run.owner.get(path), 404, not_found(credentials_id))
    expect_reply(run.owner.get(f"{BASE}/provider/hubspot"), 404, provider_not_found("hubspot"))
    expect_reply(run.owner.put(path, {"metadata": {"after": None}}), 404, not_found(credentials_id))
    expect_reply(run.owner.delete(path), 404, not_found(credentials_id))
    listing = sorted_by_id(expect_reply(run.owner.get(f"{BASE}/"), 200))
    expected = sorted_by_id(list(run.current.values()))
    expect(listing == expected, f"GET {BASE}/ after the delete: {difference(listing, expected)}")


def scan_items(dynamodb: Any, table_name: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table_name, ConsistentRead=True):
        items.extend(page["Items"])
    return items


def check_no_plaintext(run: SmokeRun) -> None:
    target = run.target
    if target.dynamodb is None or not target.table_name:
        raise SkippedError("no table to scan (STACK_NAME, a local base URL, or --table-name)")
    if not run.live or run.org_id is None:
        raise SkippedError("the suite stored nothing to look for")
    checked = {
        value: label
        for value, label in run.sent.items()
        if not any(value in text for text in target.public_text if text)
    }
    items = scan_items(target.dynamodb, target.table_name)

    # The scan must see what the suite stored, and see inside binary attributes: the ciphertext's
    # header carries its row's org id in the clear.
    keys = {(item["org_id"].get("S"), item["provider"].get("S")): item for item in items}
    for credentials_id, provider in run.live.items():
        row = keys.get((run.org_id, provider))
        expect(row is not None, f"the scan did not see the {provider} row")
        assert row is not None
        expect(
            run.org_id.encode() in bytes(row.get("ciphertext", {}).get("B", b"")),
            f"the {provider} row has no ciphertext the check can read",
        )
        mirror = (ID_MIRROR_PREFIX + credentials_id, ID_MIRROR_SORT_KEY)
        expect(mirror in keys, f"the scan did not see the id mirror of {provider}")

    forms = {value: encoded_forms(value) for value in checked}
    leaks: list[str] = []
    for item in items:
        for name, value in item.items():
            for blob in attribute_bytes(value):
                leaks.extend(
                    f"{checked[secret]} in {item['org_id'].get('S')}/{item['provider'].get('S')} {name}"
                    for secret, secret_forms in forms.items()
                    if any(form in blob for form in secret_forms)
                )
    expect(not leaks, f"plaintext in {len(leaks)} place(s): {'; '.join(sorted(set(leaks))[:10])}")


def cleanup(run: SmokeRun) -> None:
    problems = []
    for credentials_id, provider in list(run.live.items()):
        reply = run.owner.delete(f"{BASE}/{credentials_id}")
        if reply.status in (200, 404):
            run.live.pop(credentials_id)
            run.audit_expected.append(AuditExpectation("delete", credentials_id, reply.status))
        else:
            problems.append(f"{provider} {credentials_id}: {reply.status}{reply.detail_note()}")
    expect(not problems, "not deleted: " + "; ".join(problems))
    if run.preflight_passed:
        for name, caller in (("API key", run.owner), ("other API key", run.other)):
            left = expect_reply(caller.get(f"{BASE}/"), 200)
            expect(left == [], f"the {name}'s org still holds {len(left)} credential(s)")


def check_audit(run: SmokeRun) -> None:
    source = run.target.audit
    if source is None:
        raise SkippedError(
            "no audit channel to read (STACK_NAME, a local base URL, --audit-bucket or --audit-file)"
        )
    if not run.audit_expected:
        raise SkippedError("no request to look for")
    deadline = time.monotonic() + run.target.audit_timeout
    delay = AUDIT_POLL_FIRST_SECONDS
    while True:
        records = source.records()
        missing = [expected for expected in run.audit_expected if not expected.found_in(records)]
        if not missing or time.monotonic() >= deadline:
            break
        time.sleep(min(delay, max(deadline - time.monotonic(), 0.0)))
        delay = min(delay * 2, AUDIT_POLL_MAX_SECONDS)
    expect(
        not missing,
        f"not in the {source.describe()} after {run.target.audit_timeout:g} s: "
        + ", ".join(f"{e.action} {e.credentials_id} ({e.status})" for e in missing),
    )
    ours = set(run.ids.values())
    text = "\n".join(
        json.dumps(r) for r in records if r.get("credentials_id") in ours or r.get("org_id") == run.org_id
    )
    leaked = sorted(
        {label for value, label in run.sent.items() if value in text or json.dumps(value)[1:-1] in text}
    )
    expect(not leaked, f"the audit records hold values sent: {', '.join(leaked)}")


CHECKS: list[tuple[str, Check]] = [
    ("auth: no API key, or an unknown one, is 401 with the seed's text", check_unauthenticated),
    ("preflight: both keys are accepted and their orgs hold no credentials", check_preflight),
    (
        "seed: the Salesforce, HubSpot and Pipedrive examples are 201 at POST /integration-credentials/",
        check_seed_store,
    ),
    (
        "create: POST /integration-credentials (no slash) stores a custom credential (201)",
        check_create_without_slash,
    ),
    ("validation: a body without provider is 400 with the seed's text", check_validation),
    ("read: each reads back by id and by provider (200, as stored)", check_read_back),
    ("list: /integration-credentials and /integration-credentials/ list exactly them", check_list),
    ("tenancy: the other org gets 403 on get, update, delete and refresh by id", check_tenancy_by_id),
    ("tenancy: the other org gets 404 by provider and an empty list", check_tenancy_by_provider),
    ("update: PUT rotates the token and merges metadata (the seed's example, then a null)", check_update),
    (
        "refresh: credentials that cannot be refreshed are 409 '... cannot be refreshed: ...'",
        check_refresh_refused,
    ),
    ("delete: DELETE answers the seed's message, then every route is 404", check_delete),
    ("storage: no value sent is in any attribute of any item of the table (scan)", check_no_plaintext),
]
# Stop here when it fails: nothing else would mean anything, and nothing may be written.
ABORT_ON_FAILURE = {check_unauthenticated, check_preflight}
CLEANUP = ("cleanup: every credential the suite created is deleted", cleanup)


# --------------------------------------------------------------------------------------------
# Running and reporting
# --------------------------------------------------------------------------------------------


@dataclass
class Report:
    out: TextIO
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def failed(self) -> int:
        return self.counts["FAIL"]

    def say(self, line: str) -> None:
        print(line, file=self.out, flush=True)

    def record(self, outcome: str, name: str, note: str) -> bool:
        """One check's line: `PASS  <name> (0.12 s)`, `FAIL  <name>: <why>`, `SKIP  <name>: <why>`."""
        self.counts[outcome] += 1
        self.say(f"{outcome}  {name}{note}")
        return outcome != "FAIL"

    def run(self, name: str, check: Callable[[], None]) -> bool:
        started = time.monotonic()
        try:
            check()
        except SkippedError as reason:
            return self.record("SKIP", name, f": {reason}")
        except CheckFailedError as failure:
            return self.record("FAIL", name, f": {failure}")
        except Exception as error:
            return self.record("FAIL", name, f": {type(error).__name__}: {str(error)[:300]}")
        return self.record("PASS", name, f" ({time.monotonic() - started:.2f} s)")

    def summary(self) -> str:
        counts = self.counts
        return f"smoke: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"


def run_suite(target: Target, report: Report) -> None:
    """Every check in order, then the cleanup (always), then the audit records (a bounded wait)."""
    run = SmokeRun(
        target,
        Http(target.base_url, target.api_key, target.http_timeout),
        Http(target.base_url, target.other_api_key, target.http_timeout),
    )
    if isinstance(target.audit, AuditBucket):
        target.audit.since = run.started
    try:
        for index, (name, check) in enumerate(CHECKS):
            if not report.run(name, functools.partial(check, run)) and check in ABORT_ON_FAILURE:
                for later, _ in CHECKS[index + 1 :]:
                    report.record("SKIP", later, ": stopped after the failure above")
                break
    finally:
        report.run(CLEANUP[0], lambda: CLEANUP[1](run))
    report.run(
        f"audit: each request's record is in the audit trail (waits up to {target.audit_timeout:g} s)",
        lambda: check_audit(run),
    )


# --------------------------------------------------------------------------------------------
# Targets: a deployed stack, a base URL, the local stack
# --------------------------------------------------------------------------------------------


@contextmanager
def temporary_keys(repository: Any, report: Report) -> Iterator[tuple[str, str]]:
    """Two keys (every scope) for two fresh orgs, revoked on the way out whatever happened."""
    from integration_credentials.adapters.auth import hash_api_key
    from integration_credentials.core.models import utc_timestamp

    from .admin import create_api_key

    minted: list[tuple[str, str, str]] = []

    def revoke() -> None:
        refused = [
            key_id for key, key_id, _ in minted if not repository.revoke(hash_api_key(key), utc_timestamp())
        ]
        expect(not refused, f"not revoked: {', '.join(refused)}")

    try:
        for _ in range(2):
            org_id = f"smoke-{uuid.uuid4()}"
            try:
                key, key_id = create_api_key(repository, org_id)
            except Exception as error:
                raise SetupError(f"cannot mint an API key: {type(error).__name__}: {error}") from None
            minted.append((key, key_id, org_id))
        report.say(
            "smoke: temporary API keys " + ", ".join(f"{key_id} (org {org})" for _, key_id, org in minted)
        )
        yield minted[0][0], minted[1][0]
    finally:
        if minted:
            report.run("cleanup: the temporary API keys are revoked", revoke)


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def local_clients(endpoint: str) -> tuple[Any, Any]:
    """(dynamodb, kms) clients of a local stack's embedded AWS (its fake credentials)."""
    from .embedded_aws import FAKE_CREDENTIALS

    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    return session.client("dynamodb", endpoint_url=endpoint), session.client("kms", endpoint_url=endpoint)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m credentials_tools.smoke",
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="API keys come from SMOKE_API_KEY and SMOKE_OTHER_API_KEY (never argv: ps would show them).",
    )
    parser.add_argument(
        "--stack-name",
        default=env.get("SMOKE_STACK_NAME") or None,
        help="a deployed stack (SMOKE_STACK_NAME): URL, tables, bucket from its outputs; temporary keys",
    )
    parser.add_argument(
        "--base-url",
        default=env.get("SMOKE_BASE_URL") or None,
        help="the API's base URL (SMOKE_BASE_URL; default http://127.0.0.1:$PORT, the local stack)",
    )
    parser.add_argument("--table-name", default=None, help="credentials table to scan (base URL mode)")
    parser.add_argument("--aws-endpoint-url", default=None, help="endpoint of that table (local: PORT+1)")
    parser.add_argument("--audit-bucket", default=None, help="audit bucket to read (base URL mode)")
    parser.add_argument("--audit-file", default=None, help="the local stack's audit file (AUDIT_LOG_FILE)")
    parser.add_argument(
        "--audit-timeout",
        type=float,
        default=float(env["SMOKE_AUDIT_TIMEOUT"]) if env.get("SMOKE_AUDIT_TIMEOUT") else None,
        help=f"seconds to wait for the audit records (local {AUDIT_TIMEOUT_LOCAL_SECONDS:g}, "
        f"deployed {AUDIT_TIMEOUT_DEPLOYED_SECONDS:g}: Firehose buffers 300 s)",
    )
    parser.add_argument(
        "--http-timeout", type=float, default=HTTP_TIMEOUT_SECONDS, help="seconds per request"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(sys.stdout)
    api_key = os.environ.get("SMOKE_API_KEY") or None
    other_api_key = os.environ.get("SMOKE_OTHER_API_KEY") or None
    try:
        with target_of(args, api_key, other_api_key, report) as target:
            report.say(f"smoke: {target.base_url} ({target.description})")
            run_suite(target, report)
    except SetupError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    report.say(report.summary())
    return 1 if report.failed else 0


@contextmanager
def target_of(
    args: argparse.Namespace, api_key: str | None, other_api_key: str | None, report: Report
) -> Iterator[Target]:
    """The target the arguments name; minted keys are revoked when the context ends."""
    if (api_key is None) != (other_api_key is None):
        raise SetupError("give both SMOKE_API_KEY and SMOKE_OTHER_API_KEY (two orgs), or neither")
    if args.stack_name:
        if args.base_url or api_key:
            raise SetupError("STACK_NAME reads the URL and mints its own keys: give no BASE_URL or API keys")
        with deployed_target(args, report) as target:
            yield target
        return
    base_url = args.base_url or f"http://127.0.0.1:{int(os.environ.get('PORT', '3000'))}"
    if is_loopback(base_url):
        with local_target(args, base_url, api_key, other_api_key, report) as target:
            yield target
        return
    if api_key is None or other_api_key is None:
        raise SetupError(
            f"{base_url} is not local: give SMOKE_API_KEY and SMOKE_OTHER_API_KEY, or STACK_NAME"
        )
    target = Target(base_url, api_key, other_api_key, "given API keys")
    session = boto3.session.Session()
    if args.table_name:
        target.dynamodb = session.client("dynamodb", endpoint_url=args.aws_endpoint_url)
        target.table_name = args.table_name
    if args.audit_bucket:
        target.audit = AuditBucket(
            session.client("s3", endpoint_url=args.aws_endpoint_url), args.audit_bucket
        )
        target.audit_timeout = AUDIT_TIMEOUT_DEPLOYED_SECONDS
    elif args.audit_file:
        target.audit = AuditFile(Path(args.audit_file))
    if args.audit_timeout is not None:
        target.audit_timeout = args.audit_timeout
    yield target


@contextmanager
def deployed_target(args: argparse.Namespace, report: Report) -> Iterator[Target]:
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

    session = boto3.session.Session()
    try:
        outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    except Exception as error:
        raise SetupError(f"cannot read the outputs of stack {args.stack_name}: {error}") from None
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SetupError(f"stack {args.stack_name} has no output {', '.join(missing)}")
    dynamodb = session.client("dynamodb")
    repository = ApiKeyRepository(outputs["ApiKeysTableName"], dynamodb)
    with temporary_keys(repository, report) as (api_key, other_api_key):
        yield Target(
            base_url=outputs["ApiUrl"],
            api_key=api_key,
            other_api_key=other_api_key,
            description=f"stack {args.stack_name}, temporary keys",
            dynamodb=dynamodb,
            table_name=outputs["CredentialsTableName"],
            audit=AuditBucket(session.client("s3"), outputs["AuditBucketName"]),
            audit_timeout=AUDIT_TIMEOUT_DEPLOYED_SECONDS
            if args.audit_timeout is None
            else args.audit_timeout,
            public_text=(outputs.get("CredentialsKeyArn", ""),),
            http_timeout=args.http_timeout,
        )


@contextmanager
def local_target(
    args: argparse.Namespace, base_url: str, api_key: str | None, other_api_key: str | None, report: Report
) -> Iterator[Target]:
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

    from .embedded_aws import API_KEYS_TABLE, LOCAL_TABLE_NAME, local_table_name
    from .template import ROOT

    port = urllib.parse.urlsplit(base_url).port or 80
    endpoint = args.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port + 1}"
    dynamodb, kms = local_clients(endpoint)
    audit_file = (
        args.audit_file or os.environ.get("AUDIT_LOG_FILE") or ROOT / ".local" / f"audit-{port}.jsonl"
    )
    try:
        key_arns = tuple(key["KeyArn"] for key in kms.list_keys()["Keys"])
    except Exception as error:
        raise SetupError(
            f"no embedded AWS at {endpoint} (is `make run` serving {base_url}?): {error}"
        ) from None

    def target(keys: tuple[str, str], description: str) -> Target:
        return Target(
            base_url=base_url,
            api_key=keys[0],
            other_api_key=keys[1],
            description=f"local stack, embedded AWS {endpoint}, {description}",
            dynamodb=dynamodb,
            table_name=args.table_name or LOCAL_TABLE_NAME,
            audit=AuditFile(Path(audit_file)),
            audit_timeout=AUDIT_TIMEOUT_LOCAL_SECONDS if args.audit_timeout is None else args.audit_timeout,
            public_text=key_arns,
            http_timeout=args.http_timeout,
        )

    if api_key is not None and other_api_key is not None:
        yield target((api_key, other_api_key), "given API keys")
        return
    repository = ApiKeyRepository(local_table_name(API_KEYS_TABLE), dynamodb)
    with temporary_keys(repository, report) as keys:
        yield target(keys, "temporary keys")


if __name__ == "__main__":
    sys.exit(main())
