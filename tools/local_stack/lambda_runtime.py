"""Runs Lambda handlers locally the way Lambda does: each warm instance is its own process,
handling one event at a time, with its own module globals and caches, and stopped when an
invocation runs past the function's `Timeout` (the caller gets a function error, as API Gateway
answers one: 500 without our `detail`)."""

import contextlib
import functools
import importlib
import importlib.util
import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from types import ModuleType
from typing import Any

from .template import ROOT, function_timeout


def load_app(directory: str, module_name: str) -> ModuleType:
    """functions/<directory>/app.py loaded in this process as `module_name`, with module globals
    of its own (as each Lambda function has)."""
    path = ROOT / "functions" / directory / "app.py"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class FakeLambdaContext:
    """What Powertools reads from a Lambda context; its clock starts when it is made, and runs
    out after `timeout_seconds` (the function's `Timeout`), as the invocation's does."""

    function_name: str
    aws_request_id: str
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    timeout_seconds: float = 10.0
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _worker_main(
    conn: Connection, code_dir: str, handler: str, function_name: str, env: dict[str, str], timeout: float
) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    # The parent's environment when it made this instance, and the function's: as a spawned
    # process would have it (a fork server's own environment is the one it started with).
    os.environ.clear()
    os.environ.update(env)
    sys.path.insert(0, code_dir)
    module_name, _, attribute = handler.rpartition(".")
    entry = getattr(importlib.import_module(module_name), attribute)
    conn.send(("ready", None))
    while True:
        try:
            event = conn.recv()
        except (EOFError, OSError):
            return
        if event is None:
            return
        context = FakeLambdaContext(
            function_name=function_name, aws_request_id=str(uuid.uuid4()), timeout_seconds=timeout
        )
        try:
            conn.send(("ok", entry(event, context)))
        except Exception as error:  # an unhandled error: Lambda logs it and API Gateway says 500
            traceback.print_exc()
            conn.send(("error", type(error).__name__))


# What every function imports at init and no module of ours runs code in: a fork server holds them
# imported, so an instance pays its own init (the layer, app.py, its settings and clients) and not
# these libraries' again. Each instance still has module globals of its own: nothing here holds
# state made from the environment, and the layer is imported fresh in each.
PRELOADED = ["boto3", "botocore.session", "aws_encryption_sdk", "pydantic", "jwt"]


@functools.cache
def instance_context() -> Any:
    """Where instances come from: forked from a server that has the libraries imported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOADED)
    return context


class FunctionTimedOutError(Exception):
    """An invocation ran past the function's Timeout: its instance was stopped."""


class _Instance:
    def __init__(
        self,
        ctx: Any,
        code_dir: Path,
        handler: str,
        function_name: str,
        env: dict[str, str],
        timeout: float,
    ) -> None:
        self.conn, child = multiprocessing.Pipe()
        self.process = ctx.Process(
            target=_worker_main,
            args=(child, str(code_dir), handler, function_name, {**os.environ, **env}, timeout),
            name=f"lambda-{function_name}",
            daemon=True,
        )
        self.timeout = timeout
        self.process.start()
        child.close()
        status, _ = self.conn.recv()
        assert status == "ready"

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        self.conn.send(event)
        # Lambda stops an invocation at its Timeout, whatever the handler is doing, and the next
        # one gets a fresh environment (here: the instance is killed and not reused).
        if not self.conn.poll(self.timeout):
            self.kill()
            raise FunctionTimedOutError(f"Task timed out after {self.timeout:.2f} seconds")
        result: tuple[str, Any] = self.conn.recv()
        return result

    def kill(self) -> None:
        """Stop the instance at once."""
        self.process.kill()
        self.process.join(timeout=2)
        self.conn.close()

    def ask_to_stop(self) -> None:
        """Tell the instance to exit after its current event."""
        with contextlib.suppress(OSError):
            self.conn.send(None)

    def wait_stopped(self) -> None:
        """Wait (2 s at most) for the instance to exit, then kill it."""
        self.process.join(timeout=2)
        if self.process.is_alive():
            self.process.kill()


class FunctionPool:
    """Warm instances of one function; grows on concurrent demand up to `max_instances`."""

    def __init__(
        self,
        name: str,
        code_dir: Path,
        handler: str,
        env: dict[str, str],
        max_instances: int = 8,
        timeout: float | None = None,
    ) -> None:
        """`timeout`: the function's Timeout in template.yaml unless given."""
        self.name = name
        self._args = (code_dir, handler, name, env, timeout or function_timeout(name))
        self._ctx = instance_context()
        self._idle: queue.LifoQueue[_Instance] = queue.LifoQueue()
        self._all: list[_Instance] = []
        self._lock = threading.Lock()
        self._max = max_instances
        self._starting = 0

    def warm(self) -> None:
        """Start one instance ahead of the first request."""
        self._idle.put(self._spawn())

    def invoke(self, event: dict[str, Any]) -> tuple[str, Any]:
        """Run one event on a free instance: ("ok", response) or ("error", exception type)."""
        instance = self._acquire()
        try:
            result = instance.invoke(event)
        except FunctionTimedOutError as timed_out:
            print(f"{self.name}: {timed_out}", flush=True)
            self._forget(instance)
            return ("error", "TimedOut")
        except (EOFError, OSError):
            self._forget(instance)
            return ("error", "InstanceDied")
        self._idle.put(instance)
        return result

    def stop(self) -> None:
        """Stop every instance."""
        with self._lock:
            instances, self._all = self._all, []
        # All at once: a pool grown by concurrent traffic stops in one instance's exit time.
        for instance in instances:
            instance.ask_to_stop()
        for instance in instances:
            instance.wait_stopped()

    def _forget(self, instance: _Instance) -> None:
        with self._lock:
            if instance in self._all:
                self._all.remove(instance)

    def _acquire(self) -> _Instance:
        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            # Reserve the slot under the lock: concurrent requests never start more than max.
            can_grow = self._starting + len(self._all) < self._max
            if can_grow:
                self._starting += 1
        if can_grow:
            try:
                return self._spawn()
            finally:
                with self._lock:
                    self._starting -= 1
        return self._idle.get()

    def _spawn(self) -> _Instance:
        instance = _Instance(self._ctx, *self._args)
        with self._lock:
            self._all.append(instance)
        return instance
