"""`make sam-env`: the `--env-vars` file with which `sam local invoke` and `sam local start-api`
(Docker) run the functions against the resources of the `make run` on PORT.

One entry per function logical id, holding only the variables that function declares in the
SAM-translated template: SAM applies an `--env-vars` value only to a variable the template
declares and drops any other name without a word (samcli `local_lambda._make_env_vars`,
`lambdafn.env_vars.EnvironmentVariables.resolve`). Values are `make run`'s (`devserver.function_env`),
with the embedded AWS's URLs (the refresh queue's) rewritten to reach the host from a container:
http://host.docker.internal:<PORT+1>. `AWS_ENDPOINT_URL`, which points boto3 at that embedded AWS,
is declared only when the template's LocalAwsEndpointUrl parameter is given (every deployment
leaves it empty): the commands pass it with --parameter-overrides. SAM takes the AWS credentials
from the shell (any, for the embedded AWS). On Linux a container reaches the host through
host-gateway, not its loopback: `make run` must then listen on every interface
(LOCAL_AWS_BIND_HOST=0.0.0.0).
"""

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .devserver import function_env
from .embedded_aws import REGION
from .iam import translated
from .provisioning import LocalResources
from .stack_file import read_stack_file, stack_file
from .template import ROOT, load_template

CONTAINER_HOST = "host.docker.internal"
DEFAULT_OUTPUT = ROOT / ".local" / "sam-env.json"
ENDPOINT_VARIABLE = "AWS_ENDPOINT_URL"
# On Linux, Docker knows host.docker.internal only when told (Docker Desktop always does).
ADD_HOST = f"--add-host {CONTAINER_HOST}:host-gateway"


def sam_options(output: Path | str, aws_endpoint: str) -> str:
    """What `sam local invoke` and `start-api` need to run the functions on the embedded AWS."""
    return (
        f"--env-vars {output} {ADD_HOST} "
        f"--parameter-overrides LocalAwsEndpointUrl={container_endpoint(aws_endpoint)}"
    )


def sam_commands(output: Path | str, aws_endpoint: str) -> list[str]:
    """The `sam local` commands that use the file (after `sam build`), as docs/development.md shows them."""
    options = sam_options(output, aws_endpoint)
    return [
        f"sam local invoke GetCredentialsFunction -e events/get_credentials.json {options}",
        f"sam local start-api {options}",
    ]


def declared_variables(cloudformation: Mapping[str, Any]) -> dict[str, set[str]]:
    """Function logical id -> the environment variables it declares (Globals included), in the
    SAM-translated template (`iam.translated`)."""
    return {
        logical_id: set(resource.get("Properties", {}).get("Environment", {}).get("Variables", {}))
        for logical_id, resource in cloudformation["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }


def container_endpoint(aws_endpoint: str) -> str:
    """The embedded AWS (http://127.0.0.1:<port>) as a container reaches the host's port."""
    return f"http://{CONTAINER_HOST}:{urlsplit(aws_endpoint).port}"


def sam_env_vars(
    resources: LocalResources,
    aws_endpoint: str,
    port: int,
    declared: Mapping[str, set[str]],
    defaults: dict[str, str] | None = None,
) -> dict[str, dict[str, str]]:
    """Function logical id -> its declared variables with the values `make run` gives them, the
    embedded AWS's URLs as a container reaches them."""
    inside = container_endpoint(aws_endpoint)
    env_vars: dict[str, dict[str, str]] = {}
    for function, names in sorted(declared.items()):
        values = {**function_env(resources, function, port, defaults), ENDPOINT_VARIABLE: inside}
        env_vars[function] = {
            name: values[name].replace(aws_endpoint, inside) for name in sorted(names) if name in values
        }
    return env_vars


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `make sam-env` (`python -m local_stack.sam_env`)."""
    parser = argparse.ArgumentParser(prog="local_stack.sam_env", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 3000))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--stack-file", type=Path, help="a running stack's description (default: PORT's)")
    args = parser.parse_args(argv)
    path = args.stack_file or stack_file(args.port)
    if not path.is_file():
        print(
            f"sam-env: no make run on PORT={args.port} ({path} is missing): the file "
            "names the resources a running make run provisioned; start it first",
            file=sys.stderr,
        )
        return 2
    aws_endpoint, resources, defaults = read_stack_file(path)
    declared = declared_variables(translated(load_template(), resources.refs.get("AWS::Region", REGION)))
    env_vars = sam_env_vars(resources, aws_endpoint, args.port, declared, defaults)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(env_vars, indent=2) + "\n")
    print(f"sam-env: wrote {args.output} ({len(env_vars)} functions); after sam build:", file=sys.stderr)
    for command in sam_commands(args.output, aws_endpoint):
        print(f"  {command}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
