"""Shared test helpers: unique orgs, the seed bodies (kept with the smoke suite, `smoke.seed`),
Hypothesis's profile, and the IAM proof over every stack of the run (tests/iam_proof.py)."""

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from smoke.seed import SEED_BODIES

from tests import iam_proof

__all__ = ["SEED_BODIES", "iam_calls_dir", "org_id"]

# The machine is shared and the suite runs in parallel: how long an example takes says nothing
# about the code under test, so no example has a deadline and slow generation is no failure.
settings.register_profile("suite", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("suite")

TESTS = Path(__file__).resolve().parent


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config: pytest.Config) -> None:
    # Every stack of the run records the AWS accesses its functions make under one directory, made
    # by the process that started the run; xdist workers are told it (and inherit it in their env).
    if _is_worker(config):
        os.environ[iam_proof.ENVIRONMENT] = config.workerinput["iam_calls_dir"]  # type: ignore[attr-defined]
    else:
        os.environ[iam_proof.ENVIRONMENT] = tempfile.mkdtemp(prefix="iam-calls-")


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: object) -> None:
    node.workerinput["iam_calls_dir"] = os.environ[iam_proof.ENVIRONMENT]  # type: ignore[attr-defined]


def _runs_the_whole_suite(config: pytest.Config) -> bool:
    """Whether every test is selected (no -k, -m, --deselect, node ids or narrower paths)."""
    option = config.option
    if option.keyword or option.markexpr or getattr(option, "deselect", None) or getattr(option, "lf", False):
        return False
    base = config.invocation_params.dir
    return any("::" not in arg and (base / arg).resolve() in (TESTS, TESTS.parent) for arg in config.args)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # The run-wide half of the IAM proof (each stack checks its own accesses at its teardown).
    # Under xdist this runs in the controller after every worker finished; it needs no order.
    config = session.config
    if (
        _is_worker(config)
        or config.option.collectonly
        or not _runs_the_whole_suite(config)
        or session.shouldstop
    ):
        return
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
        return
    problems = iam_proof.run_problems(iam_proof.run_directory())
    if problems:
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_sep("=", "IAM proof over the whole run's AWS accesses", red=True)
            for problem in problems:
                reporter.write_line(problem)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def iam_calls_dir() -> Path:
    """The run's directory of IAM access records."""
    return iam_proof.run_directory()


@pytest.fixture
def org_id() -> str:
    return f"org-{uuid.uuid4()}"
