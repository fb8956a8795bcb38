"""Shared test helpers: unique orgs, seed bodies, where the stacks record their IAM accesses."""

import os
import tempfile
import uuid
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # Every stack of the session (e2e's local stacks, the integration suite's embedded AWS)
    # records the AWS accesses its functions make in this directory; tests/zz_iam reads them once
    # every other test ran. Made once, by the session's process, and inherited through the env.
    os.environ["IAM_CALLS_DIR"] = tempfile.mkdtemp(prefix="iam-calls-")


def iam_calls_dir() -> Path:
    """The session's directory of IAM access records."""
    return Path(os.environ["IAM_CALLS_DIR"])


SEED_BODIES = {
    "salesforce": {
        "provider": "salesforce",
        "dsn": "https://mycompany.salesforce.com",
        "access_token": "00D5g000001234567!AQYAQ...",
        "metadata": {
            "instance_url": "https://mycompany.salesforce.com",
            "api_version": "v58.0",
            "refresh_token": "5Aep861...",
            "token_type": "Bearer",
        },
    },
    "hubspot": {
        "provider": "hubspot",
        "dsn": "https://api.hubapi.com",
        "access_token": "pat-na1-1234567890abcdef",
        "metadata": {"portal_id": "12345678", "scopes": ["contacts", "companies", "deals"]},
    },
    "pipedrive": {
        "provider": "pipedrive",
        "dsn": "https://mycompany.pipedrive.com",
        "access_token": "1a2b3c4d5e6f7g8h9i0j",
        "metadata": {"company_domain": "mycompany", "api_token": "1a2b3c4d5e6f7g8h9i0j"},
    },
}


@pytest.fixture
def org_id() -> str:
    return f"org-{uuid.uuid4()}"
