"""Shared test helpers: unique orgs, the seed bodies (kept with the smoke suite,
`smoke.seed`), and where the stacks record their IAM accesses."""

import os
import tempfile
import uuid
from pathlib import Path

import pytest
from smoke.seed import SEED_BODIES

__all__ = ["SEED_BODIES", "iam_calls_dir", "org_id"]


def pytest_configure(config: pytest.Config) -> None:
    # Every stack of the session (e2e's local stacks, the integration suite's embedded AWS)
    # records the AWS accesses its functions make in this directory; tests/zz_iam reads them once
    # every other test ran. Made once, by the session's process, and inherited through the env.
    os.environ["IAM_CALLS_DIR"] = tempfile.mkdtemp(prefix="iam-calls-")


def iam_calls_dir() -> Path:
    """The session's directory of IAM access records."""
    return Path(os.environ["IAM_CALLS_DIR"])


@pytest.fixture
def org_id() -> str:
    return f"org-{uuid.uuid4()}"
