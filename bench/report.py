"""The report: the machine's description, the markdown table, and its place in BENCHMARKS.md."""

import contextlib
import os
import platform
from importlib import metadata
from pathlib import Path

from local_stack.template import ROOT

from .common import Row

REPORT_PATH = ROOT / "BENCHMARKS.md"
START_MARK = "<!-- bench:results:start -->"
END_MARK = "<!-- bench:results:end -->"
PACKAGES = [
    "aws-lambda-powertools",
    "boto3",
    "botocore",
    "aws-encryption-sdk",
    "cryptography",
    "pydantic",
    "moto",
]


def machine() -> list[tuple[str, str]]:
    """What this machine is, for the report header."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "unknown"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    system = platform.platform()
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                system = f"{line.split('=', 1)[1].strip(chr(34))} (Linux {platform.release()})"
    cores = os.cpu_count() or 0
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else cores
    versions = []
    for package in PACKAGES:
        try:
            versions.append(f"{package} {metadata.version(package)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{package} (not installed)")
    return [
        ("CPU", f"{cpu}, {cores} logical cores ({usable} usable), {platform.machine()}"),
        ("Memory", memory),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("OS", system),
        ("Packages", ", ".join(versions)),
    ]


def render(
    rows: list[Row], header: list[tuple[str, str]], notes: list[str], sections: list[str] | None = None
) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    lines = [f"- **{name}**: {value}" for name, value in header]
    lines += ["", "| Group | Figure | Value | Goal | Met? |", "|---|---|---|---|---|"]
    for row in rows:
        met = "—" if row.met is None else "yes" if row.met else "no"
        lines.append(
            f"| {cell(row.group)} | {cell(row.figure)} | {cell(row.value)} | {cell(row.goal)} | {met} |"
        )
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    for section in sections or []:
        lines += ["", section.rstrip("\n")]
    return "\n".join(lines) + "\n"


def write_report(markdown: str, path: Path = REPORT_PATH) -> None:
    """Replace the results between the markers of BENCHMARKS.md (or append them)."""
    block = f"{START_MARK}\n{markdown}{END_MARK}"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    start, end = text.find(START_MARK), text.find(END_MARK)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END_MARK) :]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(text)
