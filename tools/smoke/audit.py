"""Where the audit records land (the local stack's file, the deployed bucket) and what the run expects."""

import gzip
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from integration_credentials.adapters.audit import MARKER as AUDIT_MARKER

# Locally a record is in the file before the response leaves; in AWS it goes through the log
# group's subscription and Firehose, which buffers up to 300 s (template.yaml) before writing.
AUDIT_TIMEOUT_LOCAL_SECONDS = 15.0
AUDIT_TIMEOUT_DEPLOYED_SECONDS = 600.0
AUDIT_POLL_FIRST_SECONDS = 0.25
AUDIT_POLL_MAX_SECONDS = 15.0


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


@dataclass(frozen=True)
class AuditExpectation:
    action: str
    credentials_id: str
    status: int
    # Fields the record must carry with these values (a delete's `revocation`).
    fields: Mapping[str, Any] = field(default_factory=dict)

    def found_in(self, records: Sequence[Mapping[str, Any]]) -> bool:
        return any(
            record.get("action") == self.action
            and record.get("credentials_id") == self.credentials_id
            and record.get("status") == self.status
            and all(record.get(name) == value for name, value in self.fields.items())
            for record in records
        )
