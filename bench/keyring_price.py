"""What adopting the hierarchical keyring would add to every function that encrypts or decrypts:
instructions at cold start (callgrind, as `bench.cold_start` counts them), the import breakdown
(`python -X importtime`), and the installed size of the packages it brings.

The Encryption SDK imports the Material Providers Library at its own import whenever the library
is installed (`aws_encryption_sdk.streaming_client`), so a layer that ships it pays for it in
every function that imports the SDK, keyring or not. "Not installed" is measured in the same
environment by making the library's import fail at once (`sys.modules[...] = None`, which the
SDK treats as absent), so both sides run the same interpreter and the same boto3.
"""

import importlib.metadata
import io
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from collections import defaultdict
from pathlib import Path

from local_stack.template import ROOT, function_environment, parameter_defaults
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .cold_start import cold_start_variants, instructions
from .common import X

LIBRARY = "aws-cryptographic-material-providers"
# The AWS SDK and its closure: the Lambda runtime provides them, the layer leaves them out.
RUNTIME = {"boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"}
ABSENT = "import sys; sys.modules['aws_cryptographic_material_providers'] = None; "
FAKE_KEY = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
TODAY_INIT = f"; from bench.keyring_pipelines import today_materials; today_materials({FAKE_KEY!r})"
KEYRING_INIT = (
    "; import boto3; from bench import keyring_pipelines as p; "
    "p.hierarchical_keyring(p.key_store(boto3.client('kms'), boto3.client('dynamodb'), 'key-store', "
    f"{FAKE_KEY!r}), per_org=True)"
)
_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)")


def layer_packages() -> set[str]:
    """The distributions the layer ships (layers/common/requirements.txt)."""
    lines = (ROOT / "layers" / "common" / "requirements.txt").read_text().splitlines()
    return {canonicalize_name(line.split("==")[0]) for line in lines if line and line[0].isalnum()}


def closure(name: str) -> set[str]:
    """`name` and every distribution it requires (no extras), as installed here."""
    seen: set[str] = set()
    todo = [canonicalize_name(name)]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for text in importlib.metadata.requires(current) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def added_packages() -> dict[str, tuple[int, int]]:
    """Each distribution the library would add to the layer: bytes installed with bytecode
    (compiled here, as the layer's build compiles it), and bytes zipped (deflate)."""
    added = sorted(closure(LIBRARY) - layer_packages() - RUNTIME)
    sizes: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-keyring-pyc-") as tmp:
        for name in added:
            files = [Path(str(f.locate())) for f in importlib.metadata.distribution(name).files or []]
            files = [f for f in files if f.is_file() and "__pycache__" not in f.parts]
            buffer = io.BytesIO()
            total = 0
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for index, path in enumerate(files):
                    total += path.stat().st_size
                    archive.write(path, f"{index}/{path.name}")
                    if path.suffix == ".py":
                        compiled = Path(tmp) / f"{name}-{index}.pyc"
                        try:
                            py_compile.compile(str(path), cfile=str(compiled), doraise=True)
                        except py_compile.PyCompileError:
                            continue
                        total += compiled.stat().st_size
                        archive.write(compiled, f"{index}/{path.name}c")
            sizes[name] = (total, buffer.getbuffer().nbytes)
    return sizes


def cold_start_counts(*, callgrind: bool) -> tuple[dict[str, int | None], tuple[int, dict[str, int]]]:
    """Instructions of one process each (None without `callgrind`): the stack plus the SDK with
    the library absent and present, the same plus each way's init, and get by id's handler with
    the library absent and present. Each process runs once first, to write its bytecode (as
    the layer ships it). Then the import breakdown of the keyring's process (`import_breakdown`)."""
    refs: dict[str, str] = defaultdict(lambda: "bench-keyring")
    refs.update(parameter_defaults())
    attributes: dict[tuple[str, str], str] = defaultdict(lambda: FAKE_KEY)
    env_names = function_environment(refs, attributes, "GetCredentialsFunction")
    saved = dict(os.environ)
    os.environ.update(env_names)
    os.environ.update(
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    try:
        with (
            tempfile.TemporaryDirectory(prefix="bench-pyc-") as cached,
            tempfile.TemporaryDirectory(prefix="bench-nopyc-") as empty,
        ):
            variants = cold_start_variants(Path(cached), Path(empty))
            stack, env = variants["floor_esdk"]
            get, _ = variants["get_credentials"]
            codes = {
                "stack + SDK, library absent": ABSENT + stack,
                "stack + SDK, library installed": stack,
                "stack + SDK + today's materials manager built, library absent": ABSENT + stack + TODAY_INIT,
                "stack + SDK + hierarchical keyring built": stack + KEYRING_INIT,
                "get by id's handler, library absent": ABSENT + get,
                "get by id's handler, library installed": get,
            }
            counts: dict[str, int | None] = {}
            for name, code in codes.items():
                subprocess.run([sys.executable, "-c", code], env=env, check=True)  # noqa: S603 - ours
                counts[name] = instructions(code, env) if callgrind else None
            return counts, import_breakdown(stack + KEYRING_INIT, env)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def import_breakdown(code: str, env: dict[str, str]) -> tuple[int, dict[str, int]]:
    """The whole import time (µs) of `code` (`-X importtime`: wall time of this loaded machine,
    for the proportions only), and the cumulative time of each package's own import, wherever
    it is nested (the Encryption SDK imports the library: a package's figure includes what it
    imports, so the figures overlap)."""
    result = subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-X", "importtime", "-c", code],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    total = 0
    packages: dict[str, int] = {}
    for match in _IMPORT_LINE.finditer(result.stderr):
        name, cumulative = match.group(4), int(match.group(2))
        if not match.group(3):
            total += cumulative
        if "." not in name and not name.startswith("_"):
            packages[name] = packages.get(name, 0) + cumulative
    return total, dict(sorted(packages.items(), key=lambda item: -item[1]))


def price_lines(*, callgrind: bool) -> list[str]:
    counts, imports = cold_start_counts(callgrind=callgrind)
    base = counts["stack + SDK, library absent"]
    lines = [
        "## Cold start: instructions of one process (callgrind `Collected`)",
        "",
        "| process | instructions | / stack + SDK today |",
        "|---|---|---|",
    ]
    for name, count in counts.items():
        ratio = f"{count / base:.3f}{X}" if count and base else "n/a"
        lines.append(f"| {name} | {f'{count / 1e6:,.0f} M' if count else 'n/a'} | {ratio} |")
    total, packages = imports
    lines += [
        "",
        f"`-X importtime` of the keyring's process: {total / 1000:,.0f} ms of imports; each package's own "
        "import, cumulative (nested, so overlapping), share of the whole:",
        "",
    ]
    lines += [
        f"- `{name}`: {micros / 1000:,.0f} ms ({micros / total:.0%})"
        for name, micros in list(packages.items())[:10]
    ]
    added = added_packages()
    installed = sum(size for size, _ in added.values())
    zipped = sum(size for _, size in added.values())
    lines += [
        "",
        f"## Size: {len(added)} packages the library adds to the layer: {installed / 1e6:.1f} MB "
        f"installed with bytecode, {zipped / 1e6:.2f} MB zipped",
        "",
    ]
    lines += [
        f"- {name}: {size / 1e6:.2f} MB ({packed / 1e6:.2f} MB zipped)"
        for name, (size, packed) in added.items()
    ]
    return [*lines, ""]
