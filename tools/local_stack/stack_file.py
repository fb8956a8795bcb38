"""A running local stack described for the tools that join it (`make invoke`, `make sam-env`):
.local/stack-<PORT>.json, which `make run` writes once it serves and removes when it stops. It
holds names, ARNs and URLs, never a secret (no JWT secret, no connect result key)."""

import json
from pathlib import Path

from .provisioning import LocalResources
from .template import ROOT


def stack_file(port: int) -> Path:
    """Where `make run` on `port` says what it provisioned (`make invoke` reads it)."""
    return ROOT / ".local" / f"stack-{port}.json"


def write_stack_file(
    path: Path, aws_endpoint: str, resources: LocalResources, defaults: dict[str, str]
) -> Path:
    """The embedded AWS's endpoint, the resources' names, ARNs and URLs and the functions' extra
    settings (the fake CRMs' URLs), for `make invoke`: never a secret (no JWT secret, no connect
    result key)."""
    description = {
        "aws_endpoint": aws_endpoint,
        "table_name": resources.table_name,
        "kms_key_arn": resources.kms_key_arn,
        "jwt_secret_parameter": resources.jwt_secret_parameter,
        "refs": resources.refs,
        "attributes": [[logical, name, value] for (logical, name), value in resources.attributes.items()],
        "queue_urls": resources.queue_urls,
        "event_bus_name": resources.event_bus_name,
        "oauth_client_ids": resources.oauth_client_ids,
        "function_defaults": defaults,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(description, indent=2) + "\n")
    return path


def read_stack_file(path: Path) -> tuple[str, LocalResources, dict[str, str]]:
    """(embedded AWS endpoint, resources, the functions' extra settings) of `write_stack_file`."""
    description = json.loads(path.read_text())
    resources = LocalResources(
        table_name=description["table_name"],
        kms_key_arn=description["kms_key_arn"],
        jwt_secret_parameter=description["jwt_secret_parameter"],
        refs=description["refs"],
        attributes={(logical, name): value for logical, name, value in description["attributes"]},
        queue_urls=description["queue_urls"],
        event_bus_name=description["event_bus_name"],
        oauth_client_ids=description["oauth_client_ids"],
    )
    return description["aws_endpoint"], resources, description["function_defaults"]
