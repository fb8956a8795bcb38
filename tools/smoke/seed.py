"""The API contract's examples (../shared/seeds/), verbatim: the smoke suite sends them to a stage
and the test suites to the code, so both hold the service to the same documents."""

from typing import Any

# `POST /integration-credentials/`: the Salesforce, HubSpot and Pipedrive provider examples.
SEED_BODIES: dict[str, dict[str, Any]] = {
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

# `PUT /integration-credentials/{credentials_id}`: the token rotation example.
SEED_UPDATE: dict[str, Any] = {
    "access_token": "NEW_ACCESS_TOKEN_HERE",
    "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"},
}

# The fields of the seed's credentials object (the service adds refresh state after them).
SEED_FIELDS = ("id", "org_id", "provider", "dsn", "access_token", "metadata", "created_at", "updated_at")

# The seed's error bodies.
UNAUTHORIZED = {"detail": "Invalid or missing authentication credentials"}
FORBIDDEN = {"detail": "You do not have permission to access this resource"}
VALIDATION_PROVIDER_REQUIRED = {"detail": "Validation error: provider field is required"}


def not_found(credentials_id: str) -> dict[str, str]:
    return {"detail": f"Integration credentials {credentials_id} not found"}


def provider_not_found(provider: str) -> dict[str, str]:
    return {"detail": f"Integration credentials for provider '{provider}' not found"}


def already_exists(provider: str) -> dict[str, str]:
    return {"detail": f"Integration credentials for provider '{provider}' already exist"}


def deleted(credentials_id: str) -> dict[str, str]:
    return {"message": f"Integration credentials {credentials_id} deleted successfully"}
