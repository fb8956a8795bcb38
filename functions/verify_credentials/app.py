"""POST /integration-credentials/{credentials_id}/verify — check the credentials against their CRM."""

from typing import Annotated
from uuid import UUID

# Loaded at init, not by the first request: every verification decrypts (and may refresh).
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.adapters.budget import seconds_left
from integration_credentials.core.constants import SCOPE_READ
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import (
    EXAMPLE_ID,
    TAG,
    VERIFIED_EXAMPLE,
    credentials_ok,
    responses,
    security,
)
from integration_credentials.http.resolver import create_resolver, current_audit, current_org
from integration_credentials.http.responses import non_secret_response
from integration_credentials.logic.health import credentials_verifier

app = create_resolver()


@app.post(
    "/integration-credentials/<credentials_id>/verify",
    summary="Check the credentials against their CRM",
    description=(
        "Calls the CRM's identity endpoint with the stored token (salesforce, hubspot, pipedrive, "
        "zoho, dynamics) and answers with the credentials' non-secret fields: `status`, `account` "
        "(the CRM account the token belongs to), `verified_at` and `last_error`. A token the CRM "
        "refuses is refreshed once where the credentials hold a refresh token (as the refresh "
        "route does) and checked again. Always 200 once the CRM was asked: a dead grant answers "
        "`status: reauth_required`, a CRM that is down answers with `last_error` set and `status` "
        "unchanged. A token found to belong to another account than the one stored is stored, and "
        "an `Integration Credentials Account Changed` event is published. 409 for a provider "
        "without an identity call."
    ),
    tags=[TAG],
    operation_id="verifyCredentials",
    security=security(SCOPE_READ),
    responses=responses(
        (
            200,
            credentials_ok(
                "The credentials' non-secret fields after the check", {"verified": VERIFIED_EXAMPLE}
            ),
        ),
        403,
        404,
        409,
        502,
        503,
        examples={
            404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"},
            409: {
                "not_verifiable": (
                    f"Integration credentials {EXAMPLE_ID} cannot be verified: provider 'custom' has "
                    "no identity call"
                ),
                "in_progress": (
                    f"A token refresh of integration credentials {EXAMPLE_ID} is in progress; retry"
                ),
            },
            503: {"dependency": "Service temporarily unavailable (DynamoDB); retry later"},
        },
    ),
)
def verify_credentials(credentials_id: Annotated[UUID, Path()]) -> Response[str]:
    context = app.lambda_context
    audit = current_audit(app)
    result = credentials_verifier().verify_now(
        current_org(app), str(credentials_id), lambda: seconds_left(context), audit=audit
    )
    return non_secret_response(200, result, audit)


lambda_handler = make_handler(app, action="verify", scope=SCOPE_READ)
