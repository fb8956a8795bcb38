"""`make invoke FUNCTION=<logical id or function folder> EVENT=events/<file>.json`: one function's
handler run once, as Lambda runs it, without Docker.

The handler runs in a process of its own, with the environment `make run` gives that function
(`devserver.function_env`: the template's variables resolved to the local resources) and a Lambda
context that runs out after the function's `Timeout`. It reaches the embedded AWS of the `make run`
on PORT (default 3000), found through the .local/stack-<PORT>.json that `make run` writes; when
none answers, it starts an embedded AWS of its own and the fake CRMs, provisions it from
template.yaml, seeds the demo data (`demo`) and stops them after the call.

The handler's response goes to stdout as JSON (an HTTP response as status, headers and body; any
other return value as it is); the function's own logs go to stderr. Exit status 0 when the handler
returned, 1 on a function error or timeout, 2 when the function or the event cannot be found.
"""

import argparse
import contextlib
import json
import os
import secrets
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import boto3
from botocore.config import Config
from fake_crms import PROVIDERS as FAKE_CRM_PROVIDERS
from fake_crms import FakeCrms

from .devserver import _record_path, fake_crm_environment, function_env, seed_demo_data
from .embedded_aws import FAKE_CREDENTIALS, EmbeddedAws
from .lambda_runtime import FunctionPool
from .provisioning import LocalResources, local_oauth_client, provision
from .stack_file import read_stack_file, stack_file
from .template import ROOT, Function, load_template, resources_of_type

USAGE_ERROR = 2


class InvokeError(Exception):
    """The function or the event cannot be found: a usage error, not the function's."""


@dataclass(frozen=True)
class Target:
    """An embedded AWS with the template's resources, and the port whose settings its functions get."""

    endpoint: str
    resources: LocalResources
    port: int
    # The functions' extra settings on that stack (the fake CRMs' endpoints).
    defaults: dict[str, str]


def find_function(name: str) -> Function:
    """The template's function named by its logical id (GetCredentialsFunction) or its folder
    under functions/ (get_credentials)."""
    functions = resources_of_type("AWS::Serverless::Function")
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        if name in (logical_id, Path(props["CodeUri"]).name):
            return Function(logical_id, ROOT / props["CodeUri"], props["Handler"])
    known = ", ".join(sorted(functions))
    raise InvokeError(f"unknown function {name!r}: a logical id of template.yaml ({known}) or its folder")


def load_event(path: str | Path) -> Any:
    """The event in a JSON file (relative paths from the repository root too)."""
    candidate = Path(path)
    if not candidate.is_file() and not candidate.is_absolute():
        candidate = ROOT / candidate
    if not candidate.is_file():
        raise InvokeError(f"no event file {str(path)!r} (the events are in events/)")
    try:
        return json.loads(candidate.read_text())
    except ValueError as error:
        raise InvokeError(f"{path} is not JSON: {error}") from None


def running_stack(port: int, path: Path | None = None) -> Target | None:
    """The stack `make run` serves on `port` (described in `path`, its stack file by default), if
    the file is there and its embedded AWS answers (a stack killed without its Ctrl-C leaves its
    file behind)."""
    path = path or stack_file(port)
    if not path.is_file():
        return None
    try:
        endpoint, resources, defaults = read_stack_file(path)
    except (ValueError, KeyError):
        return None
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
    )
    try:
        dynamodb.describe_table(TableName=resources.table_name)
    except Exception:  # refused, timed out, or another stack's: not make run's
        return None
    return Target(endpoint, resources, port, defaults)


@contextlib.contextmanager
def own_stack(port: int) -> Iterator[Target]:
    """An embedded AWS of this call's own (on a free port), provisioned from template.yaml and
    holding the demo data as `make run`'s does, with the fake CRMs as `make run FAKE_CRMS=1`
    serves them (wholly local: the refresh events refresh); stopped on exit."""
    clients = {provider: local_oauth_client(provider) for provider in FAKE_CRM_PROVIDERS}
    fakes = FakeCrms(clients).start()
    aws = EmbeddedAws(record_path=_record_path(port)).start()
    try:
        with _environment(FAKE_CREDENTIALS):
            resources = provision(aws.endpoint, secrets.token_urlsafe(32), oauth_clients=clients)
        aws.record_resources(resources)
        defaults = fake_crm_environment(fakes)
        seed_demo_data(resources, aws.endpoint, port, defaults, fakes)
        yield Target(aws.endpoint, resources, port, defaults)
    finally:
        aws.stop()
        fakes.stop()


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def invoke(function: Function, event: Any, target: Target) -> tuple[str, Any]:
    """Run the handler once on `event` in a fresh instance: ("ok", its return value), or
    ("error", the exception's type name, or "TimedOut")."""
    env = {
        **FAKE_CREDENTIALS,
        "AWS_ENDPOINT_URL": target.endpoint,
        **function_env(target.resources, function.name, target.port, target.defaults),
    }
    pool = FunctionPool(function.name, function.code_uri, function.handler, env, 1)
    try:
        return pool.invoke(event)
    finally:
        pool.stop()


def printable(result: Any) -> Any:
    """An API Gateway response as status, headers and body (JSON bodies parsed); anything else as
    the handler returned it."""
    if not (isinstance(result, dict) and "statusCode" in result):
        return result
    body: Any = result.get("body")
    if isinstance(body, str) and not result.get("isBase64Encoded"):
        with contextlib.suppress(ValueError):
            body = json.loads(body)
    return {"status": result["statusCode"], "headers": result.get("headers") or {}, "body": body}


def run(function_name: str, event_path: str, port: int, out: TextIO, stack: Path | None = None) -> int:
    """Invoke `function_name` with the event in `event_path` on the stack of `port` (described in
    `stack`, else its stack file), or an own one; write the response to `out`; the exit status."""
    function = find_function(function_name)
    event = load_event(event_path)
    target = running_stack(port, stack)
    if target is not None:
        print(f"invoke: {function.name} on make run's embedded AWS ({target.endpoint})", file=sys.stderr)
        status, result = invoke(function, event, target)
    else:
        print(
            f"invoke: no make run on PORT={port}: {function.name} on an embedded AWS of its own",
            file=sys.stderr,
        )
        with own_stack(port) as own:
            status, result = invoke(function, event, own)
    if status != "ok":
        out.write(json.dumps({"errorType": result}) + "\n")
        print(f"invoke: {function.name} failed: {result}", file=sys.stderr)
        return 1
    out.write(json.dumps(printable(result), indent=2) + "\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `make invoke` (`python -m local_stack.invoke FUNCTION EVENT`)."""
    parser = argparse.ArgumentParser(prog="local_stack.invoke", description=__doc__.splitlines()[0])
    parser.add_argument("function", help="logical id (GetCredentialsFunction) or folder (get_credentials)")
    parser.add_argument("event", help="event file, e.g. events/get_credentials.json")
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument("--stack-file", type=Path, help="a running stack's description (default: PORT's)")
    args = parser.parse_args(argv)
    load_template()
    # The function's logs (Powertools writes to stdout) go to stderr: stdout is the response's.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    sys.stdout.flush()
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        return run(args.function, args.event, args.port, out, args.stack_file)
    except InvokeError as error:
        print(f"invoke: {error}", file=sys.stderr)
        return USAGE_ERROR
    finally:
        out.flush()


if __name__ == "__main__":
    sys.exit(main())
