"""Shared test helpers: unique orgs, the seed bodies (kept with the smoke suite, `credentials_tools.seed`)."""

import uuid

import pytest
from credentials_tools.seed import SEED_BODIES

__all__ = ["SEED_BODIES", "org_id"]


@pytest.fixture
def org_id() -> str:
    return f"org-{uuid.uuid4()}"
