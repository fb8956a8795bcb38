"""The document's examples: a stored credentials object of each kind, a started connection, and
the seed's request bodies."""

from typing import Any, Final

EXAMPLE_ID: Final = "8e1f9722-9637-42fa-b059-a29be3b12cf9"
EXAMPLE_ORG_ID: Final = "123e4567-e89b-12d3-a456-426614174000"
SALESFORCE_EXAMPLE: Final[dict[str, Any]] = {
    "id": EXAMPLE_ID,
    "org_id": EXAMPLE_ORG_ID,
    "provider": "salesforce",
    "dsn": "https://mycompany.salesforce.com",
    "access_token": "00D5g000001234567!AQYAQ...",
    "metadata": {
        "instance_url": "https://mycompany.salesforce.com",
        "api_version": "v58.0",
        "refresh_token": "5Aep861...",
        "token_type": "Bearer",
    },
    "created_at": "2024-10-06T12:00:00.000000Z",
    "updated_at": "2024-10-06T12:00:00.000000Z",
    "status": "active",
    "expires_at": "2024-10-06T14:00:00.000000Z",
    "last_refreshed_at": None,
    "last_error": None,
    "account": None,
    "verified_at": None,
}
# What a verification answers: the non-secret fields (no access token, no metadata).
VERIFIED_EXAMPLE: Final[dict[str, Any]] = {
    **{k: v for k, v in SALESFORCE_EXAMPLE.items() if k != "access_token"},
    "metadata": {},
    "updated_at": "2024-10-06T13:00:00.000000Z",
    "account": {"id": "00D5g000001234567EAA", "name": "mycompany", "user": "0055g00000AbCdEAAV"},
    "verified_at": "2024-10-06T13:00:00.000000Z",
}
HUBSPOT_EXAMPLE: Final[dict[str, Any]] = {
    "id": "9f2a0833-0748-43ab-a16a-b30cf4d23de0",
    "org_id": EXAMPLE_ORG_ID,
    "provider": "hubspot",
    "dsn": "https://api.hubapi.com",
    "access_token": "pat-na1-1234567890abcdef",
    "metadata": {"portal_id": "12345678", "scopes": ["contacts", "companies"]},
    "created_at": "2024-10-05T10:00:00.000000Z",
    "updated_at": "2024-10-05T10:00:00.000000Z",
    "status": "active",
    "expires_at": "2024-10-05T10:30:00.000000Z",
    "last_refreshed_at": None,
    "last_error": None,
    "account": None,
    "verified_at": None,
}

# Request examples (the seed's bodies). Powertools builds request bodies from the handlers'
# signatures, so the generator adds these to the operations named here.
REQUEST_EXAMPLES: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "connectCredentials": {
        "salesforce_sandbox": {
            "summary": "Salesforce sandbox",
            "value": {
                "provider": "salesforce",
                "return_url": "https://app.example.com/crm/connected",
                "metadata": {"login_url": "https://test.salesforce.com"},
            },
        },
        "dynamics": {
            "summary": "Dynamics 365 of one tenant",
            "value": {
                "provider": "dynamics",
                "return_url": "https://app.example.com/crm/connected",
                "metadata": {
                    "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "instance_url": "https://contoso.crm4.dynamics.com",
                },
            },
        },
        "reconnect": {
            "summary": "Reconnect credentials whose grant died (status reauth_required)",
            "value": {
                "provider": "hubspot",
                "return_url": "https://app.example.com/crm/connected",
                "credentials_id": EXAMPLE_ID,
            },
        },
    },
    "createCredentials": {
        "salesforce": {
            "summary": "Salesforce",
            "value": {k: SALESFORCE_EXAMPLE[k] for k in ("provider", "dsn", "access_token", "metadata")},
        },
        "hubspot": {
            "summary": "HubSpot",
            "value": {
                "provider": "hubspot",
                "dsn": "https://api.hubapi.com",
                "access_token": "pat-na1-1234567890abcdef",
                "metadata": {"portal_id": "12345678", "scopes": ["contacts", "companies", "deals"]},
            },
        },
        "pipedrive": {
            "summary": "Pipedrive",
            "value": {
                "provider": "pipedrive",
                "dsn": "https://mycompany.pipedrive.com",
                "access_token": "1a2b3c4d5e6f7g8h9i0j",
                "metadata": {"company_domain": "mycompany", "api_token": "1a2b3c4d5e6f7g8h9i0j"},
            },
        },
    },
    "updateCredentials": {
        "rotate_token": {
            "summary": "Token rotation (metadata is merged: other keys stay)",
            "value": {
                "access_token": "NEW_ACCESS_TOKEN_HERE",
                "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"},
            },
        },
    },
}


CONNECT_EXAMPLE: Final[dict[str, str]] = {
    "connect_url": (
        "https://login.salesforce.com/services/oauth2/authorize?response_type=code&client_id=3MVG9..."
        "&redirect_uri=https%3A%2F%2Fapi.example.com%2Fintegration-credentials%2Foauth%2Fcallback"
        "&scope=api%20refresh_token%20id&state=Yk3...&code_challenge=E9Mel...&code_challenge_method=S256"
    ),
    "expires_at": "2024-01-01T00:10:00.000000Z",
    "state_hash": "5d41402abc4b2a76b9719d911017c592ae7fc3b4f9c1e0ad3e1b6b0f2a4c8d1e",
}
