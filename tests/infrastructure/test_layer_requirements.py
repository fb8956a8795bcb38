"""The layer's dependency closure: the AWS SDK comes from the Lambda runtime with all of its own
dependencies, and everything else the layer's packages need ships in the layer."""

import re
from importlib import metadata

from local_stack.template import ROOT
from packaging.requirements import Requirement

REQUIREMENTS = ROOT / "layers" / "common" / "requirements.txt"
# What the Lambda Python runtime provides: boto3 and everything it needs.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def layer_packages() -> set[str]:
    pins = [line.split("==")[0].strip() for line in REQUIREMENTS.read_text().splitlines() if "==" in line]
    return {canonical(pin) for pin in pins}


def test_none_of_the_runtimes_sdk_closure_ships_in_the_layer():
    assert layer_packages() & {canonical(name) for name in RUNTIME} == set()


def test_every_dependency_of_the_layer_is_in_the_layer_or_the_runtime():
    available = layer_packages() | {canonical(name) for name in RUNTIME}
    missing = {}
    for package in sorted(layer_packages()):
        for requirement in metadata.requires(package) or []:
            parsed = Requirement(requirement)
            if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
                continue  # an extra, or another platform's
            if canonical(parsed.name) not in available:
                missing.setdefault(package, []).append(parsed.name)
    assert missing == {}


def test_the_runtime_closure_is_closed():
    # boto3's own dependencies are all in the runtime's set (nothing of the SDK's is left to us).
    for package in ("boto3", "botocore", "s3transfer", "python-dateutil"):
        for requirement in metadata.requires(package) or []:
            parsed = Requirement(requirement)
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                assert canonical(parsed.name) in {canonical(name) for name in RUNTIME}, (package, parsed.name)
