"""Deployment size: `sam build` of the layer and one function, zipped as Lambda takes them."""

import os
import shlex
import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from local_stack.template import ROOT

from .common import Row, log
from .stack import Bench

DEFAULT_SAM = "uv tool run --from aws-sam-cli==1.170.0 sam"
SIZE_GOAL_MB = 15.0


def deployment_size(bench: Bench) -> None:
    log("deployment size: sam build of the layer and GetCredentialsFunction")
    with tempfile.TemporaryDirectory(prefix="credentials-bench-") as tmp:
        built, reason = sam_build(Path(tmp))
        if not built:
            bench.rows.append(
                Row(
                    "Deployment size",
                    "layer + one function, zipped",
                    f"n/a: sam build unavailable ({reason})",
                    f"≤ {SIZE_GOAL_MB:g} MB",
                    None,
                )
            )
            return
        layer = Path(tmp) / "build" / "CommonLayer"
        function = Path(tmp) / "build" / "GetCredentialsFunction"
        layer_mb, function_mb = zipped_size(layer) / 1e6, zipped_size(function) / 1e6
        total = layer_mb + function_mb
        unzipped = sum(p.stat().st_size for p in layer.rglob("*") if p.is_file()) / 1e6
        bench.rows.append(
            Row(
                "Deployment size",
                "CommonLayer + GetCredentialsFunction, zipped (deflate)",
                f"{total:.2f} MB (layer {layer_mb:.2f} MB, function {function_mb:.3f} MB; "
                f"layer unzipped {unzipped:.1f} MB)",
                f"≤ {SIZE_GOAL_MB:g} MB",
                total <= SIZE_GOAL_MB,
            )
        )
        bench.notes.append("Largest parts of the built layer (unzipped): " + largest_parts(layer / "python"))


def sam_build(tmp: Path) -> tuple[bool, str]:
    """`sam build GetCredentialsFunction` (which builds its layer) into `tmp/build`."""
    command = shlex.split(os.environ.get("SAM") or DEFAULT_SAM)
    if not command or shutil.which(command[0]) is None:
        return False, f"{command[0] if command else 'sam'} not found"
    arguments = [
        "build",
        "GetCredentialsFunction",
        "--template-file",
        str(ROOT / "template.yaml"),
        "--build-dir",
        str(tmp / "build"),
        "--cache-dir",
        str(tmp / "cache"),
        "--region",
        "us-east-1",
    ]
    try:
        done = subprocess.run(  # noqa: S603 - the SAM CLI the Makefile names
            command + arguments,
            cwd=tmp,  # sam writes .aws-sam/ under its working directory: keep the project clean
            env=sam_environment(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, type(error).__name__
    if done.returncode != 0:
        lines = [line.strip() for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "error" in line.lower()]
        return False, (errors or lines or [f"exit {done.returncode}"])[-1][:200]
    return True, ""


def sam_environment() -> dict[str, str]:
    """The environment for sam: it needs the runtime's interpreter (python3.13) on PATH; with
    pyenv, expose an installed 3.13 beside the current version."""
    env = dict(os.environ)
    if _runs(["python3.13", "--version"], env):
        return env
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return env
    versions = subprocess.run(  # noqa: S603
        [pyenv, "versions", "--bare"], capture_output=True, text=True, check=False
    ).stdout.split()
    wanted = [version for version in versions if version.startswith("3.13")]
    current = (
        env.get("PYENV_VERSION")
        or subprocess.run(  # noqa: S603
            [pyenv, "version-name"], capture_output=True, text=True, check=False
        ).stdout.strip()
    )
    if wanted:
        env["PYENV_VERSION"] = ":".join([*filter(None, current.split(":")), wanted[-1]])
    return env


def _runs(command: list[str], env: dict[str, str]) -> bool:
    try:
        return subprocess.run(command, env=env, capture_output=True, check=False).returncode == 0  # noqa: S603
    except OSError:
        return False


def zipped_size(directory: Path) -> int:
    """Bytes of a deflate zip of a directory, as a Lambda deployment package."""
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(directory.rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(directory))
        handle.seek(0, os.SEEK_END)
        return handle.tell()


def largest_parts(directory: Path, count: int = 6) -> str:
    sizes: Counter[str] = Counter()
    for path in directory.rglob("*"):
        if path.is_file():
            top = path.relative_to(directory).parts[0]
            sizes[top.split("-")[0] if top.endswith(".dist-info") else top] += path.stat().st_size
    return ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in sizes.most_common(count))
