"""GET /integration-credentials/provider/{provider} — the caller's credentials for one provider."""

from typing import Annotated

# Loaded at init, not by the first request: every answer decrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.core.constants import PROVIDER_PATTERN, SCOPE_READ
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import TAG, credentials_ok, responses, security
from integration_credentials.http.resolver import (
    create_resolver,
    current_audit,
    current_principal,
)
from integration_credentials.http.responses import credentials_response
from integration_credentials.logic.credentials import credentials_service

app = create_resolver()


@app.get(
    "/integration-credentials/provider/<provider>",
    summary="Get credentials by provider",
    description="The caller's organization's credentials for one CRM provider.",
    tags=[TAG],
    operation_id="getCredentialsByProvider",
    security=security(SCOPE_READ),
    responses=responses(
        (200, credentials_ok("The credentials")),
        400,
        404,
        examples={
            400: {
                "bad_provider": (
                    "Validation error: provider must be a lowercase identifier "
                    "(a-z first, then a-z, 0-9, '_' or '-', at most 64)"
                )
            },
            404: {"not_found": "Integration credentials for provider 'salesforce' not found"},
        },
    ),
)
def get_credentials_by_provider(provider: Annotated[str, Path(pattern=PROVIDER_PATTERN)]) -> Response[str]:
    caller, audit = current_principal(app), current_audit(app)
    result = credentials_service().get_by_provider(caller.org_id, provider, audit=audit)
    return credentials_response(200, result, caller, audit)


lambda_handler = make_handler(app, action="get_by_provider", scope=SCOPE_READ)
