"""`make run`: the API on http://127.0.0.1:$PORT (3000) over embedded AWS, no Docker, no account.

Starts moto on 127.0.0.1:$PORT+1, creates the table, KMS key and JWT secret that template.yaml
declares, mints an API key for a demo org, and serves the template's HttpApi routes by invoking
the same handlers with API Gateway HTTP API (v2) events, each function in its own processes.
It also serves, without authentication and only locally, the OpenAPI document generated from the
functions at /openapi.json and a Swagger UI at /docs whose assets come from the Powertools wheel
(no CDN: it works offline).

Scheduled token refresh runs too: every LOCAL_REFRESH_INTERVAL_SECONDS (the template's
RefreshSchedule, rate(1 minute), by default; 0 turns it off) the scheduled function is invoked with
an EventBridge "Scheduled Event", then the queue it fills is drained the way Lambda's SQS event
source does: batches of the template's BatchSize, and only the messages the worker did not report
in `batchItemFailures` are deleted (none when it fails).

Longer than 300 lines: the HTTP routing of API Gateway events, the function pools' wiring, the
scheduled refresh and the docs pages make one local stack.
"""

import base64
import importlib.resources
import json
import os
import re
import secrets
import signal
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import boto3
from fake_crms import PROVIDERS as FAKE_CRM_PROVIDERS
from fake_crms import FakeCrms
from werkzeug.serving import WSGIRequestHandler, make_server

from .embedded_aws import FAKE_CREDENTIALS, EmbeddedAws, LocalResources, local_oauth_client, provision
from .iam import function_access_key
from .lambda_runtime import FunctionPool
from .routing import select_target
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

DEMO_ORG_ID = "123e4567-e89b-12d3-a456-426614174000"  # the seed's example org
MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
StartResponse = Callable[..., Any]


def api_gateway_event(
    environ: dict[str, Any], route_key: str, path_parameters: dict[str, str], body: bytes
) -> dict[str, Any]:
    """An API Gateway HTTP API payload v2.0 event for one request, selected by `route_key`."""
    method = environ["REQUEST_METHOD"]
    path = environ.get("PATH_INFO", "/")
    query = environ.get("QUERY_STRING", "")
    headers: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            headers[key[5:].replace("_", "-").lower()] = value
    if environ.get("CONTENT_TYPE"):
        headers["content-type"] = environ["CONTENT_TYPE"]
    if environ.get("CONTENT_LENGTH"):
        headers["content-length"] = environ["CONTENT_LENGTH"]
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": path,
                "protocol": environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": environ.get("REMOTE_ADDR", "127.0.0.1"),
                "userAgent": headers.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = dict(parse_qsl(query, keep_blank_values=True))
    if path_parameters:
        event["pathParameters"] = path_parameters
    if body:
        try:
            event["body"] = body.decode("utf-8")
        except UnicodeDecodeError:
            event["body"] = base64.b64encode(body).decode()
            event["isBase64Encoded"] = True
    return event


SWAGGER_UI_PACKAGE = "aws_lambda_powertools.event_handler.openapi.swagger_ui"
DOCS_ASSETS = {
    "/docs/swagger-ui-bundle.min.js": ("swagger-ui-bundle.min.js", "application/javascript; charset=utf-8"),
    "/docs/swagger-ui.min.css": ("swagger-ui.min.css", "text/css; charset=utf-8"),
}


class _PathOnlyAccessLog(WSGIRequestHandler):
    """The access log names the method, the path and the status, never the query string: it is
    the caller's data (a cursor, or whatever a client or a fuzzer puts there)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = urllib.parse.urlsplit(self.path).path
        self.log("info", '"%s %s" %s %s', self.command, path, code, size)


class ApiDocs:
    """GET /openapi.json (generated from the functions on first use) and the Swagger UI at /docs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._document: str | None = None

    def document(self) -> str:
        """openapi.json as `make openapi` writes it, from the code this stack runs."""
        with self._lock:
            if self._document is None:
                from generators.openapi import build_document, render

                self._document = render(build_document())
            return self._document

    def page(self) -> str:
        """Swagger UI with the document inline and its script and style served from /docs/."""
        from aws_lambda_powertools.event_handler.openapi.swagger_ui import generate_swagger_html

        return generate_swagger_html(
            # "</" would end the inline <script> early.
            spec=self.document().replace("</", "<\\/"),
            swagger_js="/docs/swagger-ui-bundle.min.js",
            swagger_css="/docs/swagger-ui.min.css",
            swagger_base_url="/docs",
            oauth2_config=None,
            persist_authorization=False,
        )

    @staticmethod
    def asset(name: str) -> bytes:
        """A Swagger UI file shipped inside the Powertools wheel."""
        return importlib.resources.files(SWAGGER_UI_PACKAGE).joinpath(name).read_bytes()

    def serve(self, path: str, query: str, start_response: StartResponse) -> list[bytes] | None:
        """The response for a docs path, or None when `path` is not one."""
        try:
            # The page links its document as /docs?format=json (as Powertools' enable_swagger does).
            if path == "/openapi.json" or (path == "/docs" and ("format", "json") in parse_qsl(query)):
                return _send(start_response, 200, "application/json", self.document().encode())
            if path in ("/docs", "/docs/"):
                return _send(start_response, 200, "text/html; charset=utf-8", self.page().encode())
            if path in DOCS_ASSETS:
                name, content_type = DOCS_ASSETS[path]
                return _send(start_response, 200, content_type, self.asset(name))
        except Exception:
            traceback.print_exc()
            return _reply(start_response, 500, {"message": "Internal Server Error"})
        return None


class LocalApi:
    """WSGI app: selects one of the template's routes as API Gateway does (routing.select_route)
    and invokes its function's handler."""

    def __init__(self, pools: dict[str, FunctionPool]) -> None:
        self._targets = {route.route_key: route.function for route in routes()}
        self._pools = pools
        self._docs = ApiDocs()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = environ["REQUEST_METHOD"]
        path = environ.get("PATH_INFO", "/")
        if method in ("GET", "HEAD"):
            docs = self._docs.serve(path, environ.get("QUERY_STRING", ""), start_response)
            if docs is not None:
                return docs if method == "GET" else []
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length > MAX_REQUEST_BYTES:
            return _reply(start_response, 413, {"message": "Request Entity Too Large"})
        body = environ["wsgi.input"].read(length) if length else b""
        selected = select_target(self._targets, method, path)
        if selected is None:
            return _reply(start_response, 404, {"message": "Not Found"})
        function, match = selected
        event = api_gateway_event(environ, match.route_key, match.path_parameters, body)
        status, result = self._pools[function].invoke(event)
        if status != "ok":
            return _reply(start_response, 500, {"message": "Internal Server Error"})
        return _lambda_reply(start_response, result)


def _reply(start_response: StartResponse, status: int, payload: Any) -> list[bytes]:
    return _send(start_response, status, "application/json", json.dumps(payload).encode())


def _send(start_response: StartResponse, status: int, content_type: str, body: bytes) -> list[bytes]:
    start_response(
        f"{status} {_reason(status)}",
        [("Content-Type", content_type), ("Content-Length", str(len(body)))],
    )
    return [body]


def _lambda_reply(start_response: StartResponse, result: dict[str, Any]) -> list[bytes]:
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode()
    headers = [(name, str(value)) for name, value in (result.get("headers") or {}).items()]
    headers += [("Set-Cookie", cookie) for cookie in result.get("cookies") or []]
    headers.append(("Content-Length", str(len(body))))
    status = int(result.get("statusCode", 200))
    start_response(f"{status} {_reason(status)}", headers)
    return [body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


# Developer settings that reach the functions even though the template does not name them: OAuth
# endpoint overrides (OAUTH_TOKEN_URL_SALESFORCE, OAUTH_AUTHORIZE_URL_SALESFORCE...), refresh tuning
# (REFRESH_MARGIN_SECONDS...) and the connect flow's settings.
PASSTHROUGH_PREFIXES = ("OAUTH_TOKEN_URL_", "OAUTH_AUTHORIZE_URL_", "REFRESH_", "LOCAL_REFRESH_")
PASSTHROUGH_NAMES = {
    "OAUTH_CLIENT_CACHE_SECONDS",
    "ACCESS_TOKEN_LIFETIME_SECONDS",
    "CONNECT_RETURN_URLS",
    "OAUTH_CALLBACK_URL",
    "CONNECT_STATE_TTL_SECONDS",
    "MAX_CONNECT_STATES_PER_ORG",
}
LOCAL_ACCOUNT_ID = "123456789012"
LOCAL_CONNECT_RETURN_URLS = "http://127.0.0.1:*,http://localhost:*"
# What a bearer token for the local stack must carry, unless the developer exported others (a
# deployed stack has no default: template.yaml requires JwtIssuer and JwtAudience).
LOCAL_JWT_CLAIMS = {"JWT_ISSUER": "integration-credentials-local", "JWT_AUDIENCE": "integration-credentials"}
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def schedule_seconds(expression: str, default: float = 60.0) -> float:
    """The period of a `rate(...)` expression; `default` for a cron expression."""
    match = _RATE.match(expression.strip())
    if match is None:
        return default
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2).removesuffix("s")]


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    """The event an EventBridge schedule rule sends its target."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT_ID,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends for a batch of received messages."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes") or {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in (message.get("MessageAttributes") or {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """An SQS message attribute as Lambda spells it (camelCase, binary values in base64)."""

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    attribute: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues") or []),
        "binaryListValues": [b64(item) for item in value.get("BinaryListValues") or []],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = b64(value["BinaryValue"])
    return attribute


def processed_message_ids(
    message_ids: list[str], status: str, result: Any, report_batch_item_failures: bool
) -> list[str]:
    """The messages of a batch that Lambda deletes after the invocation, by its documented rules:
    none when the function failed; without ReportBatchItemFailures, all; with it, all but the
    reported ones, and none when the response is malformed (not an object, or an itemIdentifier
    that is missing, empty or not in the batch)."""
    if status != "ok":
        return []
    if not report_batch_item_failures or result is None:
        return list(message_ids)
    if not isinstance(result, dict):
        return []
    failures = result.get("batchItemFailures") or []
    if not isinstance(failures, list):
        return []
    failed: set[str] = set()
    for failure in failures:
        item = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not isinstance(item, str) or item not in message_ids:
            return []
        failed.add(item)
    return [message_id for message_id in message_ids if message_id not in failed]


@dataclass(frozen=True)
class QueueSource:
    """A queue and the function it triggers, as Lambda's SQS event source mapping polls them."""

    pool: FunctionPool
    queue_url: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    # Polls as Lambda's event source mapping does: with the function's own role (its key id here).
    sqs: Any


class ScheduledRefresh:
    """Background thread: invokes the scheduled functions every `interval` seconds, then drains the
    queues into the functions they trigger. Logs counts and error types, never a message body."""

    def __init__(
        self,
        schedules: list[tuple[FunctionPool, str]],
        sources: list[QueueSource],
        interval: float,
        region: str,
    ) -> None:
        self._schedules = schedules
        self._sources = sources
        self._interval = interval
        self._region = region
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="local-refresh", daemon=True)

    def start(self) -> None:
        """Tick every `interval` seconds, the first one `interval` seconds from now (as a rate rule)."""
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop ticking; an invocation in flight is left to the pools' stop."""
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._interval):
            try:
                self.tick()
            except Exception as error:  # an instance that cannot start: try again next tick
                self._say(f"tick failed ({type(error).__name__})")

    def tick(self) -> None:
        """One schedule: every scheduled function once, then every queue until it is empty."""
        for pool, rule_arn in self._schedules:
            status, result = pool.invoke(scheduled_event(rule_arn, self._region))
            if status != "ok":
                self._say(f"{pool.name} failed ({result})")
        for source in self._sources:
            try:
                self._drain(source)
            except Exception as error:  # embedded AWS stopping, or an injected fault: next tick
                self._say(f"polling {source.pool.name}'s queue failed ({type(error).__name__})")

    def _say(self, line: str) -> None:
        # Only counts, names and error types get here: never a message body or a function's result.
        if not self._stopping.is_set():
            print(f"local refresh: {line}", flush=True)

    def _drain(self, source: QueueSource) -> None:
        while not self._stopping.is_set():
            messages = source.sqs.receive_message(
                QueueUrl=source.queue_url,
                MaxNumberOfMessages=min(source.batch_size, 10),
                WaitTimeSeconds=0,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not messages:
                return
            status, result = source.pool.invoke(sqs_event(messages, source.queue_arn, self._region))
            ids = [message["MessageId"] for message in messages]
            done = set(processed_message_ids(ids, status, result, source.report_batch_item_failures))
            if done:
                source.sqs.delete_message_batch(
                    QueueUrl=source.queue_url,
                    Entries=[
                        {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                        for index, message in enumerate(messages)
                        if message["MessageId"] in done
                    ],
                )
            outcome = "ok" if status == "ok" else f"failed: {result}"
            self._say(
                f"{source.pool.name} took {len(messages)} message(s), "
                f"{len(messages) - len(done)} left for a retry ({outcome})"
            )


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
    """The fakes' OAUTH_AUTHORIZE_URL_* / OAUTH_TOKEN_URL_*, but none for a provider whose
    endpoints the developer exported (either one: a real authorize step and a fake token endpoint
    could never work together)."""
    env = fakes.env()
    for provider in FAKE_CRM_PROVIDERS:
        names = [f"OAUTH_AUTHORIZE_URL_{provider.upper()}", f"OAUTH_TOKEN_URL_{provider.upper()}"]
        if any(os.environ.get(name) for name in names):
            for name in names:
                env.pop(name)
    return env


class LocalStack:
    """Embedded AWS + provisioned resources + the HTTP API; start() returns once it serves."""

    def __init__(self, port: int, aws_port: int, jwt_secret: str, max_instances: int = 8) -> None:
        self.port = port
        self.jwt_secret = jwt_secret
        self.aws = EmbeddedAws(aws_port, record_path=_record_path(aws_port))
        self._max_instances = max_instances
        self._pools: dict[str, FunctionPool] = {}
        self._server: Any = None
        self._refresh: ScheduledRefresh | None = None
        self.resources: LocalResources | None = None
        self.refresh_interval: float = 0.0
        self.fake_crms: FakeCrms | None = None
        self.fake_crm_env: dict[str, str] = {}

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
        with ThreadPoolExecutor(max_workers=len(self._pools)) as executor:
            list(executor.map(lambda pool: pool.warm(), self._pools.values()))
        if self.refresh_interval > 0:
            self._refresh = self._scheduled_refresh(schedules, queues, resources)
            self._refresh.start()
        self._server = make_server(
            "127.0.0.1", self.port, LocalApi(self._pools), threaded=True, request_handler=_PathOnlyAccessLog
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
        self.fake_crms = FakeCrms(clients, port=port, log=True).start()
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
            f"Token refresh: every {stack.refresh_interval:g} s the scheduler queues the credentials due "
            "and the worker refreshes them (LOCAL_REFRESH_INTERVAL_SECONDS; 0 turns it off)"
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


def main() -> int:
    """Entry point of `make run` / `credentials-local`."""
    from credentials_admin.cli import create_api_key
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

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
    dynamodb = boto3.client(
        "dynamodb", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ["AWS_ENDPOINT_URL"]
    )
    demo_key, _ = create_api_key(ApiKeyRepository(stack.resources.api_keys_table_name, dynamodb), DEMO_ORG_ID)
    port_prefix = f"PORT={port} " if port != 3000 else ""
    lines = [
        f"Integration credentials API on http://127.0.0.1:{stack.port}",
        f"OpenAPI: http://127.0.0.1:{stack.port}/openapi.json  Swagger UI: http://127.0.0.1:{stack.port}/docs",
        f"Embedded AWS (moto) on {os.environ['AWS_ENDPOINT_URL']}  table={stack.resources.table_name}",
        f"Demo org {DEMO_ORG_ID}  API key: {demo_key}",
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
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
