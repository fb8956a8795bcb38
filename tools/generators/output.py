"""What every generator's command line does with its text: write it, or with --check only compare."""

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def generate(
    description: str | None,
    default_output: Path,
    target: str,
    render: Callable[[], str],
    argv: Sequence[str] | None = None,
) -> int:
    """Write `render()` to the output file (`--output`, default `default_output`) when it differs;
    with `--check`, exit 1 while the file is stale, naming `make <target>`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is not up to date")
    parser.add_argument("--output", type=Path, default=default_output)
    args = parser.parse_args(argv)
    text = render()
    current = args.output.read_text(encoding="utf-8") if args.output.exists() else None
    if args.check:
        if current != text:
            print(f"{args.output} is stale: run make {target}", file=sys.stderr)
            return 1
        return 0
    if current != text:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
        print(f"wrote {args.output}")
    else:
        print(f"{args.output} is up to date")
    return 0
