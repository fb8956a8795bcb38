"""Shared test helpers: unique orgs, seed bodies."""

import uuid

import pytest

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
