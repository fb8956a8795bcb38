"""The smoke suite's target and options. PYTEST_DONT_REWRITE: a failed check shows its message,
which names statuses and fields, never the values pytest's assertion rewriting would print.

Targets:
- a deployed stack, `--stack-name` (SMOKE_STACK_NAME): the API URL, the tables and the audit bucket
  come from its CloudFormation outputs (boto3's usual configuration: AWS_PROFILE, AWS_REGION...);
  two API keys for two fresh orgs (`smoke-<uuid>`) and a write-only key of the first are minted
  with the operator CLI's code and revoked at the end, whatever happens;
- any base URL, `--base-url` (SMOKE_BASE_URL), with the keys of two orgs that hold no credentials
  (SMOKE_API_KEY, SMOKE_OTHER_API_KEY, optionally SMOKE_WRITE_ONLY_API_KEY: keys only from the
  environment, never argv); the table scan and the audit check need `--table-name` and
  `--audit-bucket` or `--audit-file`, else they skip;
- the local stack of `make run`, the default: a loopback base URL (http://127.0.0.1:$PORT) implies
  its embedded AWS on PORT+1, the table `integration-credentials-local` and the audit file
  `.local/audit-<PORT>.jsonl` (AUDIT_LOG_FILE); without keys it mints and revokes them there.
"""

import os
from collections.abc import Generator, Iterator

import pytest

from smoke.audit import AUDIT_TIMEOUT_DEPLOYED_SECONDS, AUDIT_TIMEOUT_LOCAL_SECONDS, AuditBucket
from smoke.errors import SetupError
from smoke.http import HTTP_TIMEOUT_SECONDS, Http
from smoke.state import SmokeRun, Target
from smoke.targets import TargetOptions, target_of

# The flow's modules in the order they run (pytest-randomly or -n would break the flow).
MODULES = ("test_api.py", "test_storage.py")
STOPPED_BY = pytest.StashKey[str]()


def pytest_addoption(parser: pytest.Parser) -> None:
    env = os.environ
    group = parser.getgroup("smoke", "the smoke suite's target (API keys: SMOKE_*API_KEY, never argv)")
    group.addoption(
        "--stack-name",
        default=env.get("SMOKE_STACK_NAME") or None,
        help="a deployed stack (SMOKE_STACK_NAME): URL, tables, bucket from its outputs; temporary keys",
    )
    group.addoption(
        "--base-url",
        default=env.get("SMOKE_BASE_URL") or None,
        help="the API's base URL (SMOKE_BASE_URL; default http://127.0.0.1:$PORT, the local stack)",
    )
    group.addoption("--table-name", default=None, help="credentials table to scan (base URL mode)")
    group.addoption("--aws-endpoint-url", default=None, help="endpoint of that table (local: PORT+1)")
    group.addoption("--audit-bucket", default=None, help="audit bucket to read (base URL mode)")
    group.addoption("--audit-file", default=None, help="the local stack's audit file (AUDIT_LOG_FILE)")
    group.addoption(
        "--audit-timeout",
        type=float,
        default=float(env["SMOKE_AUDIT_TIMEOUT"]) if env.get("SMOKE_AUDIT_TIMEOUT") else None,
        help=f"seconds to wait for the audit records (SMOKE_AUDIT_TIMEOUT; local "
        f"{AUDIT_TIMEOUT_LOCAL_SECONDS:g}, deployed {AUDIT_TIMEOUT_DEPLOYED_SECONDS:g}: Firehose buffers)",
    )
    group.addoption("--http-timeout", type=float, default=HTTP_TIMEOUT_SECONDS, help="seconds per request")


def pytest_configure(config: pytest.Config) -> None:
    # A long traceback shows each frame's arguments and locals, which hold keys and tokens: a
    # failure shows its source lines and its message only.
    config.option.showlocals = False
    config.option.fulltrace = False
    if config.option.tbstyle in {"auto", "long"}:
        config.option.tbstyle = "short"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The flow's order, whatever reordered it: module by module, each in the order it is written."""

    def position(item: pytest.Item) -> tuple[int, int]:
        name = item.path.name
        return (MODULES.index(name) if name in MODULES else len(MODULES), item.location[1] or 0)

    items.sort(key=position)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and item.get_closest_marker("gate") and STOPPED_BY not in item.session.stash:
        item.session.stash[STOPPED_BY] = item.name
    return report


def pytest_runtest_setup(item: pytest.Item) -> None:
    stopped_by = item.session.stash.get(STOPPED_BY, None)
    if stopped_by and not item.get_closest_marker("always"):
        pytest.skip(f"stopped after {stopped_by} failed")


def _say(config: pytest.Config, line: str) -> None:
    """A line for the operator on the terminal, past pytest's capture (it never holds a key)."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.ensure_newline()
        reporter.write_line(line)


@pytest.fixture(scope="session")
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    """The stage under test; keys it minted are revoked at the end of the session."""
    option = request.config.getoption
    options = TargetOptions(
        stack_name=option("stack_name"),
        base_url=option("base_url"),
        table_name=option("table_name"),
        aws_endpoint_url=option("aws_endpoint_url"),
        audit_bucket=option("audit_bucket"),
        audit_file=option("audit_file"),
        audit_timeout=option("audit_timeout"),
        http_timeout=option("http_timeout"),
    )
    api_key = os.environ.get("SMOKE_API_KEY") or None
    other_api_key = os.environ.get("SMOKE_OTHER_API_KEY") or None
    try:
        with target_of(options, api_key, other_api_key, lambda line: _say(request.config, line)) as chosen:
            _say(request.config, f"smoke: {chosen.base_url} ({chosen.description})")
            yield chosen
    except SetupError as error:
        pytest.exit(f"smoke: {error}", returncode=pytest.ExitCode.USAGE_ERROR)


@pytest.fixture(scope="session")
def run(target: Target) -> Iterator[SmokeRun]:
    """The flow's state; what a check stored is deleted at the end even if the cleanup check never ran."""
    state = SmokeRun(
        target,
        Http(target.base_url, target.api_key, target.http_timeout),
        Http(target.base_url, target.other_api_key, target.http_timeout),
    )
    if isinstance(target.audit, AuditBucket):
        target.audit.since = state.started
    yield state
    state.delete_live()
