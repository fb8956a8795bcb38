"""`Bench`: the stack every phase measures (embedded AWS, the handlers, the bare handlers), the
data they read, and the plumbing that makes the requests."""

import contextlib
import json
import os
import secrets
import uuid
from typing import Any

from integration_credentials.core.constants import ID_MIRROR_PREFIX
from local_stack.lambda_runtime import FunctionPool
from local_stack.template import ROOT, function_environment

from .aws import BenchAws
from .bare import ID_PREFIX as BARE_ID_PREFIX
from .bare import BareService
from .common import FUNCTIONS, ROUTE_ORG, BenchError, CpuSpent, Handler, Row, Sample, Sizes, cpu_split, log
from .events import Events, call, create_body, load_function


class Bench:
    """Holds the stack, the handlers and the data every measurement uses."""

    def __init__(self, sizes: Sizes) -> None:
        self.sizes = sizes
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.aws = BenchAws(jwt_secret=secrets.token_urlsafe(32))
        os.environ.update(self.aws.credentials)
        os.environ["AWS_ENDPOINT_URL"] = self.aws.endpoint
        resources = self.aws.resources
        os.environ.update(function_environment(resources.refs, resources.attributes))
        # The delete function's own queue (the revocations it enqueues): its init checks it.
        os.environ.update(
            function_environment(resources.refs, resources.attributes, "DeleteCredentialsFunction")
        )
        # Outside Lambda the Powertools tracer is off anyway; say so explicitly (see BENCHMARKS.md).
        os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
        self.events = Events()
        self.handlers: dict[str, Handler] = {}
        self.orgs: dict[str, str] = {}
        self.keys: dict[str, str] = {}
        self.ids: dict[tuple[str, str], str] = {}
        self.bare: BareService | None = None
        self.bare_keys: dict[str, str] = {}
        self.bare_ids: dict[tuple[str, str], str] = {}
        self.writer: FunctionPool | None = None
        # What the cost table multiplies by prices: AWS calls per warm request of each route,
        # (service, operation) -> calls, and the route's median warm CPU and latency.
        self.calls_per_request: dict[str, dict[tuple[str, str], float]] = {}
        self.warm: dict[str, Sample] = {}
        # Extra markdown after the table (the cost and price tables).
        self.sections: list[str] = []

    # -- plumbing ----------------------------------------------------------------------------

    def ours(self, function: str, event: dict[str, Any], expected: int = 200) -> tuple[Sample, Any]:
        return call(self.handlers[function], function, event, expected)

    def theirs(self, function: str, event: dict[str, Any], expected: int = 200) -> tuple[Sample, Any]:
        assert self.bare is not None
        bare_handler = self.bare.handlers[function]
        return call(lambda e, _c: bare_handler(e), function, event, expected)

    def org(self, name: str) -> str:
        """An org of the service, with an API key."""
        if name not in self.orgs:
            self.orgs[name] = f"bench-{name}-{uuid.uuid4()}"
            self.keys[name] = self.aws.mint_api_key(self.orgs[name])
        return self.orgs[name]

    def bare_org(self, name: str) -> str:
        """An org of the bare handlers (its key is in their warm lookup)."""
        key = f"bare-key-{name}"
        if key not in self.bare_keys:
            self.bare_keys[key] = f"bare-{name}-{uuid.uuid4()}"
        return self.bare_keys[key]

    def event(self, function: str, org: str, *, bare: bool = False, **kwargs: Any) -> dict[str, Any]:
        key = f"bare-key-{org}" if bare else self.keys[org]
        return self.events.make(function, key, **kwargs)

    def create(self, org: str, provider: str, *, bare: bool = False) -> str:
        if bare:
            self.bare_org(org)
        else:
            self.org(org)
        event = self.event("create_credentials", org, bare=bare, body=create_body(provider))
        body = self.theirs("create_credentials", event, 201)[1] if bare else self.write_elsewhere(event)
        (self.bare_ids if bare else self.ids)[(org, provider)] = str(body["id"])
        return str(body["id"])

    def write_elsewhere(self, event: dict[str, Any]) -> Any:
        """Create through the create function's own instance (a process of its own, as on
        Lambda): what the measured instances then read, they did not write, so their caches
        start as a reading Lambda's do."""
        if self.writer is None:
            code_dir = ROOT / "functions" / "create_credentials"
            # FunctionPool names a function by its logical id (it reads its Timeout from the template).
            self.writer = FunctionPool(
                "CreateCredentialsFunction", code_dir, "app.lambda_handler", dict(os.environ), 1
            )
        outcome, response = self.writer.invoke(event)
        if outcome != "ok" or response.get("statusCode") != 201:
            raise BenchError(f"seeding create answered {outcome} {str(response)[:300]}")
        return json.loads(response["body"])

    def route_event(self, function: str, org: str, i: int, *, bare: bool = False) -> dict[str, Any]:
        """The i-th request of a route for an org, as the benchmark uses them."""
        ids = self.bare_ids if bare else self.ids
        if function == "create_credentials":
            return self.event(function, org, bare=bare, body=create_body(f"p{i:05d}-{secrets.token_hex(3)}"))
        if function == "list_credentials":
            return self.event(function, org, bare=bare)
        if function == "get_credentials_by_provider":
            return self.event(function, org, bare=bare, path={"provider": "salesforce"})
        if function == "get_credentials":
            return self.event(function, org, bare=bare, path={"credentials_id": ids[(org, "salesforce")]})
        if function == "update_credentials":
            body = {"access_token": f"NEW_ACCESS_TOKEN_{i}", "metadata": {"refresh_token": f"r{i}"}}
            return self.event(
                function, org, bare=bare, path={"credentials_id": ids[(org, "salesforce")]}, body=body
            )
        if function == "delete_credentials":
            return self.event(function, org, bare=bare, path={"credentials_id": ids[(org, f"del{i:05d}")]})
        raise ValueError(function)

    def run_pair(
        self, function: str, i: int, *, split: bool = False
    ) -> list[tuple[bool, Sample, CpuSpent | None]]:
        """The i-th request of a route made by the service and by the bare handler, in an order
        that alternates with i: (bare?, sample, where its CPU went when `split`) for each. Delete's
        rows are made just before (the table stays small); create's rows are forgotten after."""
        org = ROUTE_ORG[function]
        expected = 201 if function == "create_credentials" else 200
        if function == "delete_credentials":
            self.create(org, f"del{i:05d}")
            self.create(org, f"del{i:05d}", bare=True)
        results: list[tuple[bool, Sample, CpuSpent | None]] = []
        for bare in (False, True) if i % 2 == 0 else (True, False):
            run = self.theirs if bare else self.ours
            event = self.route_event(function, org, i, bare=bare)
            with cpu_split() if split else contextlib.nullcontext() as spent:
                sample, body = run(function, event, expected)
            results.append((bare, sample, spent))
            if function == "create_credentials":
                self.forget(body, bare=bare)
        return results

    def forget(self, created: Any, *, bare: bool) -> None:
        """Delete a credential a create made, and its id mirror (outside any measurement)."""
        mirror = (BARE_ID_PREFIX if bare else ID_MIRROR_PREFIX) + str(created["id"])
        self.aws.delete_items([(str(created["org_id"]), str(created["provider"])), (mirror, "ID")])
        if not bare:
            # The service's create counted the row against the org's limit; its delete would take
            # it off. Without this, the create org fills up and refuses the benchmark's creates.
            self.aws.uncount(str(created["org_id"]))

    # -- the data ----------------------------------------------------------------------------

    def setup(self) -> None:
        log("loading the six handlers; seeding credentials through a create instance of its own")
        self.handlers = {name: load_function(name).lambda_handler for name in FUNCTIONS}
        for provider in ("salesforce", "hubspot", "pipedrive"):
            self.create("main", provider)
        self.create("update", "salesforce")
        self.org("create")
        self.org("delete")

    def make_bare(self, measured: dict[str, dict[str, float]]) -> None:
        """The bare handlers, making the KMS calls the real routes make warm."""
        kms_calls: dict[str, list[str]] = {}
        for function, totals in measured.items():
            operations: list[str] = []
            for operation in ("Decrypt", "GenerateDataKey"):
                operations += [operation] * round(totals.get(f"kms:{operation}", 0.0))
            others = {k for k in totals if k.startswith("kms:")} - {"kms:Decrypt", "kms:GenerateDataKey"}
            if others:
                self.notes.append(f"{function} makes KMS {sorted(others)} warm; the bare handler does not.")
            kms_calls[function] = operations
        resources = self.aws.resources
        for name in ("main", "create", "update", "delete"):
            self.bare_org(name)
        self.bare = BareService(resources.table_name, resources.kms_key_arn, self.bare_keys, kms_calls)
        for provider in ("salesforce", "hubspot", "pipedrive"):
            self.create("main", provider, bare=True)
        self.create("update", "salesforce", bare=True)
