"""Running and reporting: every check in order, the cleanup, the audit check; one line per check."""

import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from .audit import AuditBucket, AuditExpectation
from .checks import (
    check_connect_refusals,
    check_create_without_slash,
    check_delete,
    check_list,
    check_no_store,
    check_preflight,
    check_read_back,
    check_refresh_refused,
    check_scope_rule,
    check_seed_store,
    check_tenancy_by_id,
    check_tenancy_by_provider,
    check_unauthenticated,
    check_update,
    check_validation,
)
from .checks_storage import check_audit, check_no_plaintext
from .errors import CheckFailedError, SkippedError
from .expect import expect, expect_reply
from .http import Http
from .state import BASE, Check, SmokeRun, Target


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
        "cache: credentials responses (and refusals) are Cache-Control: no-store, Pragma: no-cache",
        check_no_store,
    ),
    ("scopes: a write-only key gets 403 on GET and no stored secret from a PUT", check_scope_rule),
    (
        "refresh: credentials that cannot be refreshed are 409 '... cannot be refreshed: ...'",
        check_refresh_refused,
    ),
    ("delete: DELETE answers the seed's message, then every route is 404", check_delete),
    (
        "connect: a return_url off the allow-list is 400; the OAuth callback with an unknown state is 400",
        check_connect_refusals,
    ),
    ("storage: no value sent is in any attribute of any item of the table (scan)", check_no_plaintext),
]
# Stop here when it fails: nothing else would mean anything, and nothing may be written.
ABORT_ON_FAILURE = {check_unauthenticated, check_preflight}
CLEANUP = ("cleanup: every credential the suite created is deleted", cleanup)


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
