"""`make run`: the API on http://127.0.0.1:$PORT (3000) over embedded AWS, no Docker, no account.

Starts moto on 127.0.0.1:$PORT+1, creates the table, KMS key and JWT secret that template.yaml
declares, registers the demo org's fixed local key and seeds its demo credential (`demo`: what
events/ names), writes the stack's resources to .local/stack-$PORT.json for `make invoke`, and
serves the template's HttpApi routes by invoking the same handlers with API Gateway HTTP API (v2)
events, each function in its own processes.
It also serves, without authentication and only locally, the OpenAPI document generated from the
functions at /openapi.json and a Swagger UI at /docs whose assets come from the Powertools wheel
(no CDN: it works offline).

Scheduled token refresh runs too: every LOCAL_REFRESH_INTERVAL_SECONDS (the template's
RefreshSchedule, rate(1 minute), by default; 0 turns it off) the scheduled function is invoked with
an EventBridge "Scheduled Event", then the queues are drained the way Lambda's SQS event sources
do, until all are empty (the scheduler fills the shard queue, the shard scanners the refresh
queue): batches of each event's BatchSize, and only the messages the function did not report in
`batchItemFailures` are deleted (none when it fails).

The HTTP API is `http_api`, the events `events`, the schedule and queue sources `sources`; this
module wires them to the embedded AWS and the function pools.

Longer than 300 lines: the functions' environment, the fake CRMs and the stack's start-up and
banner are one sequence that `make run` and the end-to-end tests share.
"""

import os
import secrets
import signal
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from fake_crms import PROVIDERS as FAKE_CRM_PROVIDERS
from fake_crms import FakeCrms
from integration_credentials.core.settings import FIELDS, env_name
from werkzeug.serving import make_server

from .demo import (
    DEMO_CREDENTIALS,
    DEMO_ORG_ID,
    SEEDING_FUNCTION,
    fake_grant_credentials,
    register_demo_key,
    seed_demo_credentials,
)
from .embedded_aws import FAKE_CREDENTIALS, EmbeddedAws
from .events import LOCAL_ACCOUNT_ID
from .http_api import GatewayRequestHandler, LocalApi
from .iam import function_access_key
from .lambda_runtime import FunctionPool
from .provisioning import LocalResources, local_oauth_client, provision
from .sources import QueueSource, ScheduledRefresh, schedule_seconds
from .stack_file import stack_file, write_stack_file
from .template import (
    ROOT,
    QueueTrigger,
    ScheduleTrigger,
    function_environment,
    own_resource_environment_names,
    queue_triggers,
    resolve,
    routes,
    schedule_triggers,
)

__all__ = ["DEMO_ORG_ID", "LocalStack", "function_env", "main"]


# A provider's endpoint overrides, which only work together: a real authorize step and a fake
# token endpoint (or a fake identity call for a real token) never could.
FAKE_CRM_ENDPOINT_PREFIXES = ("OAUTH_AUTHORIZE_URL_", "OAUTH_TOKEN_URL_", "CRM_API_URL_", "OAUTH_REVOKE_URL_")
# Developer settings that reach the functions even though the template does not name them: those
# endpoint overrides (OAUTH_TOKEN_URL_SALESFORCE...), refresh tuning (REFRESH_MARGIN_SECONDS...),
# the verification period and every other setting of the model (docs/configuration.md).
PASSTHROUGH_PREFIXES = (*FAKE_CRM_ENDPOINT_PREFIXES, "REFRESH_", "LOCAL_REFRESH_")
_SETTINGS = frozenset(env_name(field) for field in FIELDS)
PASSTHROUGH_NAMES = _SETTINGS | {"VERIFY_INTERVAL_SECONDS"}
LOCAL_CONNECT_RETURN_URLS = "http://127.0.0.1:*,http://localhost:*"
# What a bearer token for the local stack must carry, unless the developer exported others (a
# deployed stack has no default: template.yaml requires JwtIssuer and JwtAudience).
LOCAL_JWT_CLAIMS = {"JWT_ISSUER": "integration-credentials-local", "JWT_AUDIENCE": "integration-credentials"}


def _record_path(aws_port: int) -> str | None:
    """Where embedded AWS records the functions' IAM accesses (IAM_CALLS_DIR: the test suite's)."""
    directory = os.environ.get("IAM_CALLS_DIR")
    return os.path.join(directory, f"stack-{aws_port}.jsonl") if directory else None


def function_env(
    resources: LocalResources, function: str, port: int, defaults: dict[str, str] | None = None
) -> dict[str, str]:
    """A function's environment: the template's (Globals and its own), local-only settings,
    `defaults` (the fake CRMs' endpoints), and what the developer exported (template names, OAuth
    endpoint overrides, refresh tuning), which wins over both."""
    env = {
        **function_environment(resources.refs, resources.attributes, function),
        **(defaults or {}),
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
        # Locally the audit channel is a file (in AWS: the functions' log streams, routed away).
        "AUDIT_LOG_FILE": os.environ.get("AUDIT_LOG_FILE") or str(ROOT / ".local" / f"audit-{port}.jsonl"),
    }
    # A function's own variables that name resources of this stack (REFRESH_QUEUE_URL,
    # CONNECT_STATES_TABLE_NAME) are never overridden; those set from parameters may be.
    own = own_resource_environment_names(function)
    # Settings the developer exported win over the template's defaults (JWT_ISSUER, LOG level...).
    exported = {
        name: value
        for name, value in os.environ.items()
        if name in env or name.startswith(PASSTHROUGH_PREFIXES) or name in PASSTHROUGH_NAMES
    }
    env.update({name: value for name, value in exported.items() if name not in own})
    # `make run`'s connect flow may send a browser back to this machine (CONNECT_RETURN_URLS).
    if "CONNECT_RETURN_URLS" in env and not env["CONNECT_RETURN_URLS"]:
        env["CONNECT_RETURN_URLS"] = LOCAL_CONNECT_RETURN_URLS
    for name, value in LOCAL_JWT_CLAIMS.items():
        if name in env and not env[name]:
            env[name] = value
    # Each function signs with its own key id, so embedded AWS knows whose call it serves.
    env["AWS_ACCESS_KEY_ID"] = function_access_key(function)
    return env


def fake_crms_enabled() -> bool:
    """LOCAL_FAKE_CRMS=1 (`make run FAKE_CRMS=1`): serve the fake CRMs beside the stack."""
    return os.environ.get("LOCAL_FAKE_CRMS", "").strip().lower() in ("1", "true", "yes")


def fake_crm_environment(fakes: FakeCrms) -> dict[str, str]:
    """The fakes' OAUTH_AUTHORIZE_URL_*, OAUTH_TOKEN_URL_*, CRM_API_URL_* and OAUTH_REVOKE_URL_*,
    but none for a provider one of whose endpoints the developer exported (a real authorize step
    and a fake token endpoint, or a real token and a fake identity call, could never work
    together)."""
    env = fakes.env()
    for provider in FAKE_CRM_PROVIDERS:
        names = [prefix + provider.upper() for prefix in FAKE_CRM_ENDPOINT_PREFIXES]
        if any(os.environ.get(name) for name in names):
            for name in names:
                env.pop(name, None)
    return env


class LocalStack:
    """Embedded AWS + provisioned resources + the HTTP API; start() returns once it serves."""

    def __init__(self, port: int, aws_port: int, jwt_secret: str, max_instances: int = 8) -> None:
        self.port = port
        self.jwt_secret = jwt_secret
        # LOCAL_AWS_BIND_HOST=0.0.0.0: reachable from sam local's containers on Linux (host-gateway);
        # the default keeps the embedded AWS on this machine's loopback.
        bind_host = os.environ.get("LOCAL_AWS_BIND_HOST", "127.0.0.1")
        self.aws = EmbeddedAws(aws_port, record_path=_record_path(aws_port), host=bind_host)
        self._max_instances = max_instances
        self._pools: dict[str, FunctionPool] = {}
        self._server: Any = None
        self._refresh: ScheduledRefresh | None = None
        self.resources: LocalResources | None = None
        self.refresh_interval: float = 0.0
        self.fake_crms: FakeCrms | None = None
        self.fake_crm_env: dict[str, str] = {}
        self.demo_api_key = ""

    def start(self) -> None:
        """Start embedded AWS, provision, warm one instance per function, then serve."""
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        self.aws.start()
        os.environ.setdefault("AWS_ENDPOINT_URL", self.aws.endpoint)
        oauth_clients = self._start_fake_crms()
        self.resources = resources = provision(
            os.environ["AWS_ENDPOINT_URL"], self.jwt_secret, oauth_clients=oauth_clients
        )
        self.aws.record_resources(resources)
        for route in routes():
            if route.function not in self._pools:
                self._pools[route.function] = FunctionPool(
                    route.function,
                    route.code_uri,
                    route.handler,
                    function_env(resources, route.function, self.port, self.fake_crm_env),
                    self._max_instances,
                )
        schedules, queues = schedule_triggers(), queue_triggers()
        self.refresh_interval = self._interval(schedules, resources)
        if self.refresh_interval > 0:
            # One event at a time, as this loop sends them: one warm instance each is enough.
            functions = [trigger.function for trigger in schedules] + [trigger.function for trigger in queues]
            for function in functions:
                self._pools[function.name] = FunctionPool(
                    function.name,
                    function.code_uri,
                    function.handler,
                    function_env(resources, function.name, self.port, self.fake_crm_env),
                    1,
                )
        with ThreadPoolExecutor(max_workers=len(self._pools) + 1) as executor:
            # The demo data (its own process) while the instances warm.
            seeding = executor.submit(
                seed_demo_data,
                resources,
                os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ["AWS_ENDPOINT_URL"],
                self.port,
                self.fake_crm_env,
                self.fake_crms,
            )
            # LOCAL_WARM_FUNCTIONS=0: each function's first instance starts at its first invocation,
            # as Lambda's do (a cold start), not before the stack serves (the tests' stacks).
            if os.environ.get("LOCAL_WARM_FUNCTIONS", "1").strip() != "0":
                list(executor.map(lambda pool: pool.warm(), self._pools.values()))
            self.demo_api_key = seeding.result()
        if self.refresh_interval > 0:
            self._refresh = self._scheduled_refresh(schedules, queues, resources)
            self._refresh.start()
        self._server = make_server(
            "127.0.0.1",
            self.port,
            LocalApi(self._pools),
            threaded=True,
            request_handler=GatewayRequestHandler,
        )
        self.port = self._server.server_port
        threading.Thread(target=self._server.serve_forever, name="local-api", daemon=True).start()

    def _start_fake_crms(self) -> dict[str, dict[str, str]] | None:
        """With LOCAL_FAKE_CRMS, the fake CRMs on LOCAL_FAKE_CRMS_PORT (else a free port), knowing
        the same OAuth clients that provisioning stores in SSM; None (nothing started) without."""
        if not fake_crms_enabled():
            return None
        clients = {provider: local_oauth_client(provider) for provider in FAKE_CRM_PROVIDERS}
        port = int(os.environ.get("LOCAL_FAKE_CRMS_PORT") or 0)
        # The fake Salesforce names itself as the org's instance_url, so a connected credential's API
        # calls (clients/python/examples) reach it.
        self.fake_crms = FakeCrms(clients, port=port, log=True, salesforce_org=True).start()
        self.fake_crm_env = fake_crm_environment(self.fake_crms)
        return clients

    @staticmethod
    def _interval(schedules: list[ScheduleTrigger], resources: LocalResources) -> float:
        """LOCAL_REFRESH_INTERVAL_SECONDS, else the period of the template's schedule (0: off)."""
        configured = os.environ.get("LOCAL_REFRESH_INTERVAL_SECONDS")
        if configured:
            return max(float(configured), 0.0)
        if not schedules:
            return 0.0
        return schedule_seconds(resolve(schedules[0].schedule, resources.refs, resources.attributes))

    def _scheduled_refresh(
        self, schedules: list[ScheduleTrigger], queues: list[QueueTrigger], resources: LocalResources
    ) -> ScheduledRefresh:
        region = resources.refs["AWS::Region"]

        def sqs_of(function: str) -> Any:
            return boto3.client(
                "sqs",
                endpoint_url=os.environ.get("AWS_ENDPOINT_URL_SQS") or os.environ["AWS_ENDPOINT_URL"],
                aws_access_key_id=function_access_key(function),
                aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            )

        rule_prefix = f"arn:aws:events:{region}:{LOCAL_ACCOUNT_ID}:rule/local-"
        return ScheduledRefresh(
            schedules=[
                (self._pools[trigger.function.name], rule_prefix + trigger.function.name)
                for trigger in schedules
            ],
            sources=[
                QueueSource(
                    pool=self._pools[trigger.function.name],
                    queue_url=resources.queue_urls[trigger.queue],
                    queue_arn=resources.attributes[(trigger.queue, "Arn")],
                    batch_size=trigger.batch_size,
                    report_batch_item_failures=trigger.report_batch_item_failures,
                    sqs=sqs_of(trigger.function.name),
                )
                for trigger in queues
            ],
            interval=self.refresh_interval,
            region=region,
        )

    def stop(self) -> None:
        """Stop serving, stop the function instances, stop embedded AWS."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._refresh is not None:
            self._refresh.stop()
        # Each warm instance takes ~0.3-0.6 s to exit and a pool stops its own one by one: stop the
        # pools side by side so Ctrl-C stays quick after concurrent traffic has grown them.
        if self._pools:
            with ThreadPoolExecutor(max_workers=len(self._pools)) as executor:
                list(executor.map(lambda pool: pool.stop(), self._pools.values()))
        self.aws.stop()
        if self.fake_crms is not None:
            self.fake_crms.stop()


def refresh_banner(stack: LocalStack) -> list[str]:
    """How the local stack refreshes tokens, and the settings that change it (never a secret)."""
    assert stack.resources is not None
    if stack.refresh_interval > 0:
        schedule = (
            f"Token refresh: every {stack.refresh_interval:g} s the scheduler starts a run, the shard "
            "scanners queue the credentials due and the worker refreshes them "
            "(LOCAL_REFRESH_INTERVAL_SECONDS; 0 turns it off)"
        )
    else:
        schedule = (
            "Token refresh: scheduled refresh off (LOCAL_REFRESH_INTERVAL_SECONDS=0); POST .../refresh works"
        )
    prefix = stack.resources.refs.get("OAuthClientParameterPrefix", "")
    clients = ", ".join(
        f"{name}={client}" for name, client in sorted(stack.resources.oauth_client_ids.items())
    )
    return [
        schedule,
        f"OAuth clients (SSM {prefix}<provider>, ids also {prefix}client-id/<provider>): {clients}",
        "  your own OAuth app: LOCAL_OAUTH_CLIENT_ID_<PROVIDER> / LOCAL_OAUTH_CLIENT_SECRET_<PROVIDER>;"
        " another token endpoint (a fake): OAUTH_TOKEN_URL_<PROVIDER>=<url>",
    ]


def jwt_banner(stack: LocalStack) -> list[str]:
    """The claims a bearer token needs on this stack, and what one without a scope may do."""
    assert stack.resources is not None
    env = function_env(stack.resources, routes()[0].function, stack.port)
    return [
        f"JWT claims required: iss={env['JWT_ISSUER']} aud={env['JWT_AUDIENCE']} (JWT_ISSUER, JWT_AUDIENCE); "
        f"without scope/scp a token may do: {env['JWT_DEFAULT_SCOPES']} (JWT_DEFAULT_SCOPES)"
    ]


def fake_crm_banner(stack: LocalStack) -> list[str]:
    """Where the fake CRMs are, when they run, and which providers the functions send to them."""
    if stack.fake_crms is None:
        return ["Fake CRMs: off (make run FAKE_CRMS=1 serves fake authorize/token endpoints)"]
    faked = sorted(
        name.removeprefix("OAUTH_TOKEN_URL_").lower()
        for name in stack.fake_crm_env
        if name.startswith("OAUTH_TOKEN_URL_")
    )
    return [
        f"Fake CRMs on {stack.fake_crms.base_url}/ (the functions' OAuth endpoints for: "
        f"{', '.join(faked) or 'none, all exported'})"
    ]


def seed_demo_data(
    resources: LocalResources, endpoint: str, port: int, defaults: dict[str, str], fakes: FakeCrms | None
) -> str:
    """The demo org's key and credential (`demo`), which the files in events/ name; the key. With
    `fakes` serving the credential's provider, its tokens are a grant of theirs."""
    key = register_demo_key(resources, endpoint)
    env = {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": endpoint,
        **function_env(resources, SEEDING_FUNCTION, port, defaults),
    }
    faked = fakes is not None and f"OAUTH_TOKEN_URL_{DEMO_CREDENTIALS['provider'].upper()}" in defaults
    seed_demo_credentials(env, fake_grant_credentials(fakes) if fakes is not None and faked else None)
    return key


def main() -> int:
    """Entry point of `make run` / `credentials-local`."""

    port = int(os.environ.get("PORT", "3000"))
    aws_port = int(os.environ.get("AWS_PORT", str(port + 1)))
    jwt_secret = os.environ.get("JWT_SECRET")
    generated = jwt_secret is None
    jwt_secret = jwt_secret or secrets.token_urlsafe(32)
    stack = LocalStack(port, aws_port, jwt_secret)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stack.start()
    assert stack.resources is not None
    demo_key = stack.demo_api_key
    written = write_stack_file(
        stack_file(stack.port), stack.aws.endpoint, stack.resources, stack.fake_crm_env
    )
    port_prefix = f"PORT={port} " if port != 3000 else ""
    lines = [
        f"Integration credentials API on http://127.0.0.1:{stack.port}",
        f"OpenAPI: http://127.0.0.1:{stack.port}/openapi.json  Swagger UI: http://127.0.0.1:{stack.port}/docs",
        f"Embedded AWS (moto) on {os.environ['AWS_ENDPOINT_URL']}  table={stack.resources.table_name}",
        f"Demo org {DEMO_ORG_ID}  API key: {demo_key}  (local only: the key events/ carry)",
        f"make invoke reads this stack from {written.relative_to(ROOT)}",
        f"More keys: {port_prefix}uv run credentials-local-admin api-keys create --org-id <org>",
        f"JWT HS256 secret ({'generated' if generated else 'from JWT_SECRET'}): {jwt_secret}",
        f"Connect result key (SSM {stack.resources.refs['ConnectResultKeyParameterName']}; a return page "
        f"verifies connect_result with it): {stack.resources.connect_result_key}",
        *jwt_banner(stack),
        *refresh_banner(stack),
        *fake_crm_banner(stack),
        "Ctrl-C to stop.",
    ]
    print("\n".join(lines), flush=True)
    try:
        stop.wait()
    finally:
        print("stopping...", flush=True)
        written.unlink(missing_ok=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
