"""The command line: `python -m smoke` (the package docstring is its --help)."""

import argparse
import os
import sys
from collections.abc import Sequence

from . import __doc__ as suite_doc
from .audit import AUDIT_TIMEOUT_DEPLOYED_SECONDS, AUDIT_TIMEOUT_LOCAL_SECONDS
from .errors import SetupError
from .http import HTTP_TIMEOUT_SECONDS
from .run import Report, run_suite
from .targets import target_of


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m smoke",
        description=suite_doc.splitlines()[0] if suite_doc else None,
        epilog="API keys come from SMOKE_API_KEY and SMOKE_OTHER_API_KEY (never argv: ps would show them).",
    )
    parser.add_argument(
        "--stack-name",
        default=env.get("SMOKE_STACK_NAME") or None,
        help="a deployed stack (SMOKE_STACK_NAME): URL, tables, bucket from its outputs; temporary keys",
    )
    parser.add_argument(
        "--base-url",
        default=env.get("SMOKE_BASE_URL") or None,
        help="the API's base URL (SMOKE_BASE_URL; default http://127.0.0.1:$PORT, the local stack)",
    )
    parser.add_argument("--table-name", default=None, help="credentials table to scan (base URL mode)")
    parser.add_argument("--aws-endpoint-url", default=None, help="endpoint of that table (local: PORT+1)")
    parser.add_argument("--audit-bucket", default=None, help="audit bucket to read (base URL mode)")
    parser.add_argument("--audit-file", default=None, help="the local stack's audit file (AUDIT_LOG_FILE)")
    parser.add_argument(
        "--audit-timeout",
        type=float,
        default=float(env["SMOKE_AUDIT_TIMEOUT"]) if env.get("SMOKE_AUDIT_TIMEOUT") else None,
        help=f"seconds to wait for the audit records (local {AUDIT_TIMEOUT_LOCAL_SECONDS:g}, "
        f"deployed {AUDIT_TIMEOUT_DEPLOYED_SECONDS:g}: Firehose buffers 300 s)",
    )
    parser.add_argument(
        "--http-timeout", type=float, default=HTTP_TIMEOUT_SECONDS, help="seconds per request"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(sys.stdout)
    api_key = os.environ.get("SMOKE_API_KEY") or None
    other_api_key = os.environ.get("SMOKE_OTHER_API_KEY") or None
    try:
        with target_of(args, api_key, other_api_key, report) as target:
            report.say(f"smoke: {target.base_url} ({target.description})")
            run_suite(target, report)
    except SetupError as error:
        print(f"smoke: {error}", file=sys.stderr)
        return 2
    report.say(report.summary())
    return 1 if report.failed else 0
