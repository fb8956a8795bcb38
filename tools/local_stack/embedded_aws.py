"""Embedded AWS for the local stack and the tests: moto's server on loopback.

Requests are served one at a time (DynamoDB's conditional writes are linearizable; moto's are
only when nothing interleaves them), counted per service and operation, and can be made to fail
on purpose the ways AWS fails (`aws_faults`: errors, throttling, 5xx, dropped connections, slow
and lost answers) to test the 503 paths. `TransactWriteItems` honours `ClientRequestToken` as
DynamoDB does (`client_tokens`). With a record path, the IAM accesses each function makes are
recorded (`iam`).

`provisioning` creates what template.yaml declares on it.
"""

import io
import json
import re
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from moto.server import DomainDispatcherApplication, create_backend_app  # type: ignore[attr-defined]
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from . import iam, moto_speedups
from .aws_faults import CONTROL_PATH, Fault, FaultKind, Faults, drop_connection, error_answer, fault
from .client_tokens import Answer, ClientRequestTokens

# Re-exported: the tests and the tools name them here.
from .fake_aws import FAKE_CREDENTIALS as FAKE_CREDENTIALS
from .fake_aws import REGION as REGION
from .keep_alive import KeepAliveServer

if TYPE_CHECKING:
    from .provisioning import LocalResources


Environ = dict[str, Any]
StartResponse = Callable[..., Any]

# X-Amz-Target prefixes of the JSON protocols we use (botocore speaks JSON to SQS since 1.34.90).
_TARGET_SERVICES = {
    "DynamoDB_20120810": "dynamodb",
    "TrentService": "kms",
    "AmazonSSM": "ssm",
    "AmazonSQS": "sqs",
    "AWSEvents": "events",
}
# Without a target (query or REST protocols), the service is the one the request was signed for.
_SIGNED_SERVICE = re.compile(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/aws4_request")
_SIGNER_KEY = re.compile(r"Credential=([^/,]+)/")


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: Counter[tuple[str, str]] = field(default_factory=Counter)
    faults: Faults = field(default_factory=Faults)
    tokens: ClientRequestTokens = field(default_factory=ClientRequestTokens)
    accesses: set[iam.Access] = field(default_factory=set)


class _QuietHandler(WSGIRequestHandler):
    """No access log: every AWS call of every request would drown the API's own log."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


class EmbeddedAws:
    """moto server on 127.0.0.1 with serialisation, call counting and fault injection."""

    def __init__(
        self, port: int = 0, record_path: str | None = None, keep_alive: bool = False, host: str = "127.0.0.1"
    ) -> None:
        moto_speedups.install()
        self._state = _State()
        # With a path, every IAM access a function makes (known by its access key id) is appended
        # to it once, as a JSON line (`iam.Access`); the first line names the stack's resources.
        self._record_path = record_path
        self._backend = DomainDispatcherApplication(create_backend_app)
        # keep_alive: HTTP/1.1 connections reused as AWS's endpoints allow (the bench measures so);
        # else werkzeug's server, which closes each connection after its answer.
        self._server: BaseWSGIServer | KeepAliveServer = (
            KeepAliveServer(self._app, port, host)
            if keep_alive
            else make_server(
                host, port or _free_port(), self._app, threaded=True, request_handler=_QuietHandler
            )
        )
        self._thread = threading.Thread(target=self._server.serve_forever, name="embedded-aws", daemon=True)

    @property
    def endpoint(self) -> str:
        """The endpoint URL to give boto3 (AWS_ENDPOINT_URL)."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> "EmbeddedAws":
        """Serve in a background thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()

    def calls(self) -> Counter[tuple[str, str]]:
        """(service, operation) -> number of requests since the last reset."""
        with self._state.lock:
            return Counter(self._state.calls)

    def reset_calls(self) -> None:
        """Start counting from zero."""
        with self._state.lock:
            self._state.calls.clear()

    def fail(
        self,
        service: str,
        code: str,
        status: int = 400,
        operations: Iterable[str] | None = None,
        *,
        times: int | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        """Make every request to `service` ("dynamodb", "kms", "ssm", "sqs", "events") fail with an
        AWS error (only `operations`, when given: "SendMessageBatch", "PutEvents"...; only the next
        `times` matching requests, when given; `fields` added to the error body). Replaces the
        service's other faults."""
        self._state.faults.replace(
            service,
            fault(
                service, "error", operations=operations, times=times, code=code, status=status, fields=fields
            ),
        )

    def inject(
        self,
        service: str,
        kind: FaultKind,
        *,
        operations: Iterable[str] | None = None,
        times: int | None = None,
        rate: float = 1.0,
        seconds: float = 0.0,
        code: str | None = None,
        status: int | None = None,
        callers: Iterable[str] | None = None,
    ) -> Fault:
        """Add a fault (`aws_faults`: throttle, server_error, error, reset, slow, lost) for
        `service`'s `operations` (all when None), on a `rate` share of the matching requests, the
        next `times` (all when None), made by `callers` (function logical ids, `ANY_FUNCTION`;
        None: anyone). Faults added earlier are drawn first."""
        injected = fault(
            service,
            kind,
            operations=operations,
            times=times,
            rate=rate,
            seconds=seconds,
            code=code,
            status=status,
            callers=callers,
        )
        self._state.faults.add(service, injected)
        return injected

    def conflict(self, operations: Iterable[str], times: int, items: int = 2) -> None:
        """What DynamoDB answers under contention on one item, for the next `times` requests of
        `operations`: a transaction is cancelled with a `TransactionConflict` reason (on its first
        item of `items`), a single-item write gets TransactionConflictException. The embedded AWS
        serialises every request, so without this the retry paths would never run."""
        transactional = {"TransactWriteItems", "TransactGetItems"}
        names = set(operations)
        if names & transactional:
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}]
            reasons += [{"Code": "None"}] * (items - 1)
            self.fail(
                "dynamodb",
                "TransactionCanceledException",
                operations=names,
                times=times,
                fields={"CancellationReasons": reasons},
            )
        else:
            self.fail("dynamodb", "TransactionConflictException", operations=names, times=times)

    def faults_left(self, service: str) -> int | None:
        """How many more requests an injected fault of `service` will fail (None: every one; 0: none)."""
        return self._state.faults.left(service)

    def heal(self) -> None:
        """Remove every injected fault (requests a slow or lost answer holds are let go)."""
        self._state.faults.heal()

    def record_resources(self, resources: "LocalResources") -> None:
        """Start the record with the stack's resources (what the policies resolve against)."""
        if self._record_path is None:
            return
        header = {
            "resources": {
                "refs": resources.refs,
                "attributes": [
                    [logical, name, value] for (logical, name), value in resources.attributes.items()
                ],
            }
        }
        with open(self._record_path, "w", encoding="utf-8") as record:
            record.write(json.dumps(header) + "\n")

    @staticmethod
    def _caller(environ: Environ) -> str | None:
        """The function that made a request (by the key id it signed with, or the header the
        in-process tests name it with), None for anyone else."""
        signer = _SIGNER_KEY.search(str(environ.get("HTTP_AUTHORIZATION", "")))
        function = iam.function_of_access_key(signer.group(1)) if signer else None
        named = environ.get("HTTP_" + iam.FUNCTION_HEADER.upper().replace("-", "_"))
        return function or (str(named) if named else None)

    def _record(self, environ: Environ, service: str, operation: str, function: str | None) -> None:
        if self._record_path is None or function is None:
            return
        found = iam.accesses(function, service, operation, _body(environ), REGION)
        with self._state.lock:
            new = [access for access in found if access not in self._state.accesses]
            self._state.accesses.update(new)
            if new:
                with open(self._record_path, "a", encoding="utf-8") as record:
                    record.writelines(json.dumps(access.to_json()) + "\n" for access in new)

    def _control(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        """`POST` a fault (`aws_faults.FaultRequest`'s JSON) to add it, `DELETE` to heal: how a
        test drives the faults of a local stack running in another process."""
        if environ["REQUEST_METHOD"] == "DELETE":
            self.heal()
            start_response("204 No Content", [])
            return []
        try:
            request = json.loads(_body(environ))
            self.inject(request.pop("service"), request.pop("kind"), **request)
        except (ValueError, KeyError, TypeError) as error:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [f"bad fault: {type(error).__name__}".encode()]
        start_response("201 Created", [])
        return []

    def _app(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CONTROL_PATH:
            return self._control(environ, start_response)
        service, operation = _service_and_operation(environ)
        caller = self._caller(environ)
        self._record(environ, service, operation, caller)
        drawn = self._state.faults.draw(service, operation, caller)
        injected, healed = drawn if drawn is not None else (None, None)
        if injected is not None and injected.kind in ("error", "throttle", "server_error"):
            status, headers, body = error_answer(injected)
            start_response(status, headers)
            return [body]
        if injected is not None and injected.kind == "reset":
            raise drop_connection(environ)
        if injected is not None and healed is not None and injected.kind == "slow":
            healed.wait(injected.seconds)
        tokens = (service, operation) == ("dynamodb", "TransactWriteItems")
        request_body = _body(environ) if tokens else b""
        with self._state.lock:
            self._state.calls[(service, operation)] += 1
            # Served inside the lock so no other request interleaves with this one.
            if tokens:
                answer = self._state.tokens.serve(request_body, lambda: self._serve(environ))
            else:
                answer = self._serve(environ)
        if injected is not None and healed is not None and injected.kind == "lost":
            healed.wait(injected.seconds)
            raise drop_connection(environ)
        status, headers, body = answer
        start_response(status, headers)
        return [body]

    def _serve(self, environ: Environ) -> Answer:
        """moto's answer to a request, read whole."""
        started: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
            started["status"], started["headers"] = status, list(headers)

        body = b"".join(self._backend(environ, capture))
        return started["status"], started["headers"], body


def _body(environ: Environ) -> bytes:
    """The request body, left in place for whoever reads it next."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _service_and_operation(environ: Environ) -> tuple[str, str]:
    """("dynamodb", "Query"), ("sqs", "SendMessageBatch")...: what a fault or a count is keyed by."""
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    prefix, _, operation = target.partition(".")
    if prefix in _TARGET_SERVICES:
        return _TARGET_SERVICES[prefix], operation
    signed = _SIGNED_SERVICE.search(str(environ.get("HTTP_AUTHORIZATION", "")))
    if signed is None:
        return "other", operation
    # Query protocol: the action is in the query string (GET) or in the form body, left unread here.
    action = parse_qs(str(environ.get("QUERY_STRING", ""))).get("Action", [""])[0]
    return signed.group(1), operation or action


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
