"""Handlers invoked in-process with the events from events/, on embedded AWS (moto on loopback)
provisioned from template.yaml."""

import io
import json
import logging
import os
import queue
import secrets
import uuid
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import boto3
import fake_crms as fake
import pytest
from credentials_admin.cli import create_api_key
from integration_credentials.adapters import auth, parameters, providers
from integration_credentials.adapters.aws import botocore_session, reset_clients
from integration_credentials.adapters.crypto import cipher
from integration_credentials.adapters.observability import logger as service_logger
from integration_credentials.adapters.storage import (
    api_keys,
    connect_states,
    credentials,
    leases,
    refresh_index,
)
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from integration_credentials.core import settings
from integration_credentials.core.constants import ALL_SCOPES
from integration_credentials.core.models import Account
from integration_credentials.logic import connect, health, idempotency, refresh, revocation
from integration_credentials.logic import credentials as service
from local_stack import iam
from local_stack.embedded_aws import FAKE_CREDENTIALS, EmbeddedAws
from local_stack.events import api_gateway_event
from local_stack.lambda_runtime import FakeLambdaContext, load_app
from local_stack.provisioning import LocalResources, provision
from local_stack.routing import select_route
from local_stack.template import (
    ROOT,
    function_directories,
    function_environment,
    function_timeout_of_directory,
    resources_of_type,
    routes,
)

from tests import iam_proof, tokens
from tests.conftest import SEED_BODIES
from tests.reply import Reply

JWT_SECRET = "integration-test-secret-" + secrets.token_hex(16)
# Deployed stacks must name both (template parameters without defaults); `bearer` carries them.
JWT_ISSUER, JWT_AUDIENCE = "integration-platform-test", "integration-credentials-test"
TABLE_NAME = "integration-credentials-test"
CONNECT_RETURN_URLS = "https://app.example.com/crm/, http://127.0.0.1:*"
FUNCTIONS = function_directories()
# The one route without an API key or token: the OAuth callback (its single-use state authenticates it).
KEYLESS_FUNCTIONS = frozenset({"oauth_callback"})
AUTHENTICATED_FUNCTIONS = [function for function in FUNCTIONS if function not in KEYLESS_FUNCTIONS]
ROUTE_KEYS = [route.route_key for route in routes()]


def reset_process_state() -> None:
    """Forget every per-process cache (settings, clients, cipher, key cache), as a cold start."""
    settings.get_settings.cache_clear()
    reset_clients()
    # The clients made from now on name the function whose handler is running (IAM record).
    iam.name_calls_of(botocore_session(), RUNNING_FUNCTION.get)
    for singleton in (
        cipher.credentials_cipher,
        credentials.credentials_repository,
        leases.refresh_leases,
        refresh_index.refresh_index,
        api_keys.api_key_repository,
        auth.authenticator,
        parameters.ssm_provider,
        idempotency._idempotent_create,
        idempotency._config,
        service.credentials_service,
        refresh.token_refresher,
        health.credentials_verifier,
        revocation.revoker,
        connect_states.connect_states,
        connect.connector,
    ):
        singleton.cache_clear()


@dataclass
class Stack:
    aws: EmbeddedAws
    resources: LocalResources
    dynamodb: Any

    def scan(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": self.resources.table_name}
        while True:
            page = self.dynamodb.scan(**kwargs)
            items.extend(page["Items"])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    saved = dict(os.environ)
    records = iam_proof.new_stack_directory("integration")
    embedded = EmbeddedAws(record_path=str(records / "integration.jsonl")).start()
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = embedded.endpoint
    resources = provision(embedded.endpoint, JWT_SECRET, table_name=TABLE_NAME)
    embedded.record_resources(resources)
    os.environ.update(function_environment(resources.refs, resources.attributes))
    # The connect flow's own settings (its two functions' variables), with test return URLs, and
    # the delete's queue (the revocations it enqueues).
    for function in ("ConnectCredentialsFunction", "OAuthCallbackFunction", "DeleteCredentialsFunction"):
        os.environ.update(function_environment(resources.refs, resources.attributes, function))
    # Revocations are visible on the queue at once: a test reads what its own delete enqueued.
    os.environ["REVOKE_DELAY_SECONDS"] = "0"
    os.environ["CONNECT_RETURN_URLS"] = CONNECT_RETURN_URLS
    os.environ.update(JWT_ISSUER=JWT_ISSUER, JWT_AUDIENCE=JWT_AUDIENCE)
    os.environ["POWERTOOLS_TRACE_DISABLED"] = "true"
    os.environ["AWS_MAX_ATTEMPTS"] = "2"  # one retry: the 503 paths stay fast
    reset_process_state()
    yield Stack(embedded, resources, boto3.client("dynamodb", endpoint_url=embedded.endpoint))
    embedded.stop()
    reset_process_state()
    os.environ.clear()
    os.environ.update(saved)
    # The IAM proof of this stack: every access its functions made is one template.yaml allows.
    problems = iam_proof.stack_problems(records)
    assert not problems, "\n".join(problems)


@pytest.fixture(autouse=True)
def _healthy(stack: Stack) -> Iterator[None]:
    stack.aws.heal()
    yield
    stack.aws.heal()


# The template's logical id of the function whose handler runs now (None: test code itself).
RUNNING_FUNCTION: ContextVar[str | None] = ContextVar("running_function", default=None)
LOGICAL_IDS = {
    Path(props["Properties"]["CodeUri"]).name: logical
    for logical, props in resources_of_type("AWS::Serverless::Function").items()
}


def load_function(name: str) -> Any:
    module = load_app(name, f"functions_{name}_app")
    handler = module.lambda_handler

    def lambda_handler(event: Any, context: Any) -> Any:
        token = RUNNING_FUNCTION.set(LOGICAL_IDS[name])
        try:
            return handler(event, context)
        finally:
            RUNNING_FUNCTION.reset(token)

    module.lambda_handler = lambda_handler
    return module


class Api:
    """Calls the handlers with the events API Gateway would send them: built by the one builder
    (`local_stack.events.api_gateway_event`, the dev server's) from each function's example request
    in events/ (its route, path, host, user agent and source IP), adjusted per request."""

    def __init__(self) -> None:
        # Free instances of each function, as Lambda keeps them: an instance serves one invocation
        # at a time (Powertools' resolver holds the current event and context), so concurrent
        # calls of one function each take an instance of their own, loading another if none is free.
        self._instances: dict[str, queue.LifoQueue[Any]] = {name: queue.LifoQueue() for name in FUNCTIONS}
        for name in FUNCTIONS:
            self._instances[name].put(load_function(name))
        self._examples = {
            name: json.loads((ROOT / "events" / f"{name}.json").read_text()) for name in FUNCTIONS
        }

    def event(
        self,
        function: str,
        *,
        headers: dict[str, str],
        path_parameters: dict[str, str] | None = None,
        body: Any = None,
        raw_body: str | None = None,
        raw_path: str | None = None,
        content_type: str | None = "application/json",
        query: dict[str, str] | None = None,
        headers_extra: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """The event of one request to `function`'s route."""
        example = self._examples[function]
        route_key = example["routeKey"]
        method, route = route_key.split(" ", 1)
        path = example["rawPath"]
        parameters = example.get("pathParameters") or {}
        if path_parameters is not None:
            parameters, path = path_parameters, route
            for name, value in path_parameters.items():
                path = path.replace("{" + name + "}", value)
        if raw_path is not None:
            # The route and parameters API Gateway would select for that path, as make run does.
            match = select_route(ROUTE_KEYS, method, raw_path)
            assert match is not None, raw_path
            route_key, parameters, path = match.route_key, match.path_parameters, raw_path
        sent = {name.lower(): value for name, value in {**headers, **(headers_extra or {})}.items()}
        kept = {k: v for k, v in example["headers"].items() if k not in {"x-api-key", "content-type"}}
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": urlencode(query or {}, errors="surrogatepass"),
            "REMOTE_ADDR": example["requestContext"]["http"]["sourceIp"],
            **{"HTTP_" + name.upper().replace("-", "_"): value for name, value in {**kept, **sent}.items()},
        }
        payload = b""
        if body is not None or raw_body is not None:
            payload = (raw_body if raw_body is not None else json.dumps(body)).encode()
            if content_type:
                environ["CONTENT_TYPE"] = content_type
        event = api_gateway_event(environ, route_key, parameters, payload)
        if query:
            # The values exactly as sent, even those no URL could carry (a lone surrogate).
            event["queryStringParameters"] = dict(query)
        return event

    def call(self, function: str, *, timeout_seconds: float | None = None, **request: Any) -> Reply:
        """One request to `function`'s route (`request`: `event`'s arguments), as Lambda runs it."""
        event = self.event(function, **request)
        context = FakeLambdaContext(
            function_name=function,
            aws_request_id=str(uuid.uuid4()),
            timeout_seconds=timeout_seconds or function_timeout_of_directory(function),
        )
        try:
            instance = self._instances[function].get_nowait()
        except queue.Empty:
            instance = load_function(function)
        try:
            response = instance.lambda_handler(event, context)
        finally:
            self._instances[function].put(instance)
        return Reply.of_lambda(response)

    # Shorthands for the six routes.
    def create(self, headers: dict[str, str], body: Any, **kw: Any) -> Reply:
        return self.call("create_credentials", headers=headers, body=body, **kw)

    def list(self, headers: dict[str, str], **kw: Any) -> Reply:
        return self.call("list_credentials", headers=headers, **kw)

    def get_by_provider(self, headers: dict[str, str], provider: str, **kw: Any) -> Reply:
        return self.call(
            "get_credentials_by_provider", headers=headers, path_parameters={"provider": provider}, **kw
        )

    def get(self, headers: dict[str, str], credentials_id: str, **kw: Any) -> Reply:
        return self.call(
            "get_credentials", headers=headers, path_parameters={"credentials_id": credentials_id}, **kw
        )

    def update(self, headers: dict[str, str], credentials_id: str, body: Any, **kw: Any) -> Reply:
        return self.call(
            "update_credentials",
            headers=headers,
            path_parameters={"credentials_id": credentials_id},
            body=body,
            **kw,
        )

    def delete(self, headers: dict[str, str], credentials_id: str, **kw: Any) -> Reply:
        return self.call(
            "delete_credentials", headers=headers, path_parameters={"credentials_id": credentials_id}, **kw
        )

    def refresh(self, headers: dict[str, str], credentials_id: str, **kw: Any) -> Reply:
        return self.call(
            "refresh_credentials", headers=headers, path_parameters={"credentials_id": credentials_id}, **kw
        )

    def verify(self, headers: dict[str, str], credentials_id: str, **kw: Any) -> Reply:
        return self.call(
            "verify_credentials", headers=headers, path_parameters={"credentials_id": credentials_id}, **kw
        )


@pytest.fixture(scope="session")
def api(stack: Stack) -> Api:
    return Api()


def call_route(
    api: Any, function: str, headers: dict[str, str], credentials_id: str | None = None, body: Any = None
) -> Any:
    """One request to a function's route, with made-up path parameters and a valid body."""
    path_parameters = None
    if function == "get_credentials_by_provider":
        path_parameters = {"provider": "salesforce"}
    elif function in {"get_credentials", "update_credentials", "delete_credentials"}:
        path_parameters = {"credentials_id": credentials_id or str(uuid.uuid4())}
    if body is None and function in {"create_credentials", "update_credentials"}:
        body = SEED_BODIES["salesforce"] if function == "create_credentials" else {"access_token": "x"}
    return api.call(function, headers=headers, path_parameters=path_parameters, body=body)


def mint_key(stack: Stack, org_id: str, scopes: frozenset[str] = ALL_SCOPES) -> str:
    repository = ApiKeyRepository(stack.resources.api_keys_table_name, stack.dynamodb)
    key, _ = create_api_key(repository, org_id, scopes)
    return key


@pytest.fixture
def captured_logs():
    # Everything that reaches the root logger at DEBUG, plus the Powertools service logger's stream.
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    root = logging.getLogger()
    previous_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    service_handler = service_logger.registered_handler
    previous_stream = service_handler.setStream(buffer)
    previous_service_level = service_logger.log_level
    service_logger.setLevel("DEBUG")
    yield buffer
    service_logger.setLevel(previous_service_level)
    service_handler.setStream(previous_stream)
    root.removeHandler(handler)
    root.setLevel(previous_level)


@pytest.fixture
def org_headers(stack: Stack, org_id: str) -> dict[str, str]:
    """X-API-Key headers of a fresh org."""
    return {"X-API-Key": mint_key(stack, org_id)}


@pytest.fixture
def other_org_headers(stack: Stack) -> dict[str, str]:
    """X-API-Key headers of a second, unrelated org."""
    return {"X-API-Key": mint_key(stack, f"org-{uuid.uuid4()}")}


def bearer(org_id: str, secret: str = JWT_SECRET, algorithm: str = "HS256", **claims: Any) -> dict[str, str]:
    """Authorization headers with a token the stack accepts; `claims` add or (None) remove claims."""
    claims = {"sub": "user-1", "exp": 4_102_444_800, "iss": JWT_ISSUER, "aud": JWT_AUDIENCE, **claims}
    return tokens.bearer(tokens.token(secret, algorithm=algorithm, org_id=org_id, **claims))


ROOT_PATH = Path(ROOT)


@pytest.fixture
def tuned(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set refresh settings (environment names) for one test; the refresher is rebuilt."""

    def tune(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        settings.get_settings.cache_clear()
        refresh.token_refresher.cache_clear()
        health.credentials_verifier.cache_clear()

    yield tune
    monkeypatch.undo()
    settings.get_settings.cache_clear()
    refresh.token_refresher.cache_clear()
    health.credentials_verifier.cache_clear()


@pytest.fixture
def salesforce_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Serve a Salesforce behaviour and point the salesforce refresh at it."""
    servers: list[Any] = []

    def start(behaviour: fake.Behaviour) -> fake.FakeEndpoint:
        context = fake.serve(behaviour)
        endpoint = context.__enter__()
        servers.append(context)
        monkeypatch.setenv("OAUTH_TOKEN_URL_SALESFORCE", endpoint.url("/services/oauth2/token"))
        return endpoint

    yield start
    for context in servers:
        context.__exit__(None, None, None)


@pytest.fixture
def event_queue(stack: Any) -> Iterator[Any]:
    """Route this service's events on the default bus to a fresh SQS queue; returns a reader."""
    sqs = boto3.client("sqs", endpoint_url=stack.aws.endpoint)
    events = boto3.client("events", endpoint_url=stack.aws.endpoint)
    name = f"events-{uuid.uuid4().hex[:12]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name=name, EventPattern=json.dumps({"source": ["integration-credentials"]}), EventBusName="default"
    )
    events.put_targets(Rule=name, EventBusName="default", Targets=[{"Id": "q", "Arn": arn}])

    def read() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
            if not messages:
                return found
            for message in messages:
                found.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])

    yield read
    events.remove_targets(Rule=name, EventBusName="default", Ids=["q"])
    events.delete_rule(Name=name, EventBusName="default")
    sqs.delete_queue(QueueUrl=queue_url)


class FakeIdentity:
    """The CRMs' identity calls (`adapters.providers.identify`, which the service looks up at each
    call): per access token, the account it belongs to or the error the CRM answers (`default`
    for any other token). Records every call; `before_answer(token)`, when set, runs first."""

    def __init__(self, default: Account | Exception) -> None:
        self.answers: dict[str, Account | Exception] = {}
        self.default = default
        self.calls: list[dict[str, Any]] = []
        self.before_answer: Any = None

    def __call__(
        self,
        provider: str,
        metadata: Any,
        access_token: str,
        *,
        client: Any = None,
        dsn: str | None = None,
        api_url: str | None = None,
        timeout: float = 10,
    ) -> Account:
        self.calls.append({"provider": provider, "access_token": access_token, "client": client})
        if self.before_answer is not None:
            self.before_answer(access_token)
        answer = self.answers.get(access_token, self.default)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def crm(monkeypatch: pytest.MonkeyPatch) -> FakeIdentity:
    """The identity calls answered by a `FakeIdentity` (by default: account 1234567)."""
    fake_identity = FakeIdentity(Account("1234567", "acme.pipedrive.com", "42"))
    monkeypatch.setattr(providers, "identify", fake_identity)
    return fake_identity
