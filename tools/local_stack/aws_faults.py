"""Failures the embedded AWS injects on purpose, the ways AWS fails, per service, operation and
caller, on every matching request or on a share of them (`rate`), for the next `times` or all:

- `error`: an AWS error answer (`code`, `status`, extra body `fields`); `throttle` and
  `server_error` are errors with the service's own code (ThrottlingException 400; InternalServerError,
  KMSInternalException... 500);
- `reset`: the connection is dropped before the request is served (nothing applied);
- `slow`: the request waits `seconds`, then is served (applied even if its caller gave up meanwhile,
  as a service may);
- `lost`: the request is served (a write is applied), then its answer is withheld for `seconds`
  and the connection dropped: the caller cannot tell a lost answer from a lost request.

Waits end early when the faults are healed. A stack in another process takes faults over HTTP
(`RemoteFaults`). The callers are the template's functions, known by the
key id they sign with (or the header the in-process tests name them with): `callers=ANY_FUNCTION`
spares the tests' own checks.
"""

import contextlib
import json
import random
import socket
import threading
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

FaultKind = Literal["error", "throttle", "server_error", "reset", "slow", "lost"]
# Where the embedded AWS takes faults over HTTP (from tests driving a stack in another process).
CONTROL_PATH: Final = "/_embedded/faults"
# A caller filter that matches any function of the template (not the tests' or tools' own calls).
ANY_FUNCTION: Final = "*"

# What each service answers when it throttles, and when it fails on its side.
_THROTTLE: Final = {
    "dynamodb": "ThrottlingException",
    "kms": "ThrottlingException",
    "ssm": "ThrottlingException",
    "events": "ThrottlingException",
    "sqs": "RequestThrottled",
}
_SERVER_ERROR: Final = {
    "dynamodb": "InternalServerError",
    "kms": "KMSInternalException",
    "ssm": "InternalServerError",
    "events": "InternalException",
    "sqs": "InternalError",
}


@dataclass
class Fault:
    """One injected failure (see the module's docstring for the kinds)."""

    kind: FaultKind = "error"
    status: int = 400
    code: str = ""
    operations: set[str] | None = None
    times: int | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    rate: float = 1.0
    seconds: float = 0.0
    callers: frozenset[str] | None = None

    def matches(self, operation: str, caller: str | None) -> bool:
        """Whether a request of `operation` made by `caller` (a function, None: not one) is one
        this fault is for (before its rate is drawn)."""
        if self.operations is not None and operation not in self.operations:
            return False
        if self.callers is None:
            return True
        return caller is not None and (ANY_FUNCTION in self.callers or caller in self.callers)


def fault(
    service: str,
    kind: FaultKind,
    *,
    operations: Iterable[str] | None = None,
    times: int | None = None,
    rate: float = 1.0,
    seconds: float = 0.0,
    code: str | None = None,
    status: int | None = None,
    fields: dict[str, Any] | None = None,
    callers: Iterable[str] | None = None,
) -> Fault:
    """A fault of `kind` for `service`, with that service's own error code for `throttle` and
    `server_error` unless `code` names one."""
    if kind == "throttle":
        code, status = code or _THROTTLE.get(service, "ThrottlingException"), status or 400
    elif kind == "server_error":
        code, status = code or _SERVER_ERROR.get(service, "InternalFailure"), status or 500
    return Fault(
        kind=kind,
        status=status or 400,
        code=code or "",
        operations=set(operations) if operations else None,
        times=times,
        fields=dict(fields or {}),
        rate=rate,
        seconds=seconds,
        callers=frozenset(callers) if callers is not None else None,
    )


class Faults:
    """The injected faults of every service; thread-safe. The first fault of a service that
    matches a request (and whose rate draws it) is the one it gets."""

    def __init__(self, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._by_service: dict[str, list[Fault]] = {}
        self._random = random.Random(seed)  # noqa: S311 - fault sampling, not crypto
        self._healed = threading.Event()

    def replace(self, service: str, injected: Fault) -> None:
        """`injected` becomes the service's only fault."""
        with self._lock:
            self._by_service[service] = [injected]

    def add(self, service: str, injected: Fault) -> None:
        """Add a fault after the service's others."""
        with self._lock:
            self._by_service.setdefault(service, []).append(injected)

    def left(self, service: str) -> int | None:
        """How many more requests the service's first fault will fail (None: every one; 0: none)."""
        with self._lock:
            faults = self._by_service.get(service)
            return 0 if not faults else faults[0].times

    def heal(self) -> None:
        """Remove every fault; requests a fault holds stop waiting."""
        with self._lock:
            self._by_service.clear()
            healed, self._healed = self._healed, threading.Event()
        healed.set()

    def draw(self, service: str, operation: str, caller: str | None) -> tuple[Fault, threading.Event] | None:
        """The fault a request gets, if any (its `times` counted down), and the event that ends
        its waits."""
        with self._lock:
            faults = self._by_service.get(service, [])
            for injected in faults:
                if not injected.matches(operation, caller):
                    continue
                if injected.rate < 1.0 and self._random.random() >= injected.rate:
                    continue
                if injected.times is not None:
                    injected.times -= 1
                    if injected.times <= 0:
                        faults.remove(injected)
                return injected, self._healed
        return None


def error_answer(injected: Fault) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of an injected AWS error (JSON protocols)."""
    body = json.dumps({"__type": injected.code, "message": "injected fault", **injected.fields}).encode()
    headers = [("Content-Type", "application/x-amz-json-1.0"), ("x-amzn-ErrorType", injected.code)]
    return f"{injected.status} Injected", headers, body


class ConnectionDroppedError(ConnectionResetError):
    """Raised from the WSGI app to drop the connection: the server treats it as the client gone."""


def drop_connection(environ: dict[str, Any]) -> ConnectionDroppedError:
    """Shut the request's connection down, unanswered (the caller sees it closed), and return the
    exception that ends the request quietly."""
    connection: socket.socket | None = environ.get("werkzeug.socket")
    if connection is not None:
        with contextlib.suppress(OSError):
            connection.shutdown(socket.SHUT_RDWR)
    return ConnectionDroppedError("injected: connection dropped")


class RemoteFaults:
    """The faults of an embedded AWS served by another process (the local stack), at `endpoint`."""

    def __init__(self, endpoint: str) -> None:
        self._url = endpoint.rstrip("/") + CONTROL_PATH

    def inject(self, service: str, kind: FaultKind, **options: Any) -> None:
        """As `EmbeddedAws.inject` (`operations` and `callers` as lists)."""
        for name in ("operations", "callers"):
            if options.get(name) is not None:
                options[name] = sorted(options[name])
        self._send("POST", json.dumps({"service": service, "kind": kind, **options}).encode())

    def heal(self) -> None:
        """As `EmbeddedAws.heal`."""
        self._send("DELETE", None)

    def _send(self, method: str, body: bytes | None) -> None:
        request = urllib.request.Request(self._url, data=body, method=method)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            response.read()
