"""POST /integration-credentials/{credentials_id}/refresh — refresh the access token now."""

from typing import Annotated
from uuid import UUID

# Loaded at init, not by the first request: every refresh decrypts and re-encrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.adapters.budget import seconds_left
from integration_credentials.core.constants import SCOPE_REFRESH
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import EXAMPLE_ID, TAG, credentials_ok, responses, security
from integration_credentials.http.resolver import (
    create_resolver,
    current_audit,
    current_principal,
)
from integration_credentials.http.responses import credentials_response
from integration_credentials.logic.refresh import token_refresher

app = create_resolver()


@app.post(
    "/integration-credentials/<credentials_id>/refresh",
    summary="Refresh the access token now",
    description=(
        "Exchanges the stored `metadata.refresh_token` at the provider (salesforce, hubspot, "
        "pipedrive, zoho, dynamics) and returns the credentials with the new `access_token`. One "
        "refresh per credential at a time: a call while another is in flight waits for it and "
        "returns its outcome; a call right after one (within a few seconds; a minute for Zoho) "
        "returns the fresh token without asking the provider again. 409 when the grant is dead "
        "(status `reauth_required`: store new tokens with PUT) or when the credentials cannot be "
        "refreshed (no refresh client for the provider, no `refresh_token` in metadata), 502 when "
        "the provider rejects our OAuth client, 503 when it is unavailable."
    ),
    tags=[TAG],
    operation_id="refreshCredentials",
    security=security(SCOPE_REFRESH),
    responses=responses(
        (200, credentials_ok("The credentials with a fresh access token")),
        403,
        404,
        409,
        502,
        503,
        examples={
            404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"},
            409: {
                "reauth_required": (
                    f"Integration credentials {EXAMPLE_ID} need re-authorization (invalid_grant): "
                    "store new tokens with PUT"
                ),
                "not_refreshable": (
                    f"Integration credentials {EXAMPLE_ID} cannot be refreshed: metadata has no refresh_token"
                ),
                "in_progress": (
                    f"A token refresh of integration credentials {EXAMPLE_ID} is in progress; retry"
                ),
            },
            503: {
                "provider": "The salesforce token endpoint is unavailable (http_503); retry later",
                "dependency": "Service temporarily unavailable (DynamoDB); retry later",
            },
        },
    ),
)
def refresh_credentials(credentials_id: Annotated[UUID, Path()]) -> Response[str]:
    context = app.lambda_context
    caller, audit = current_principal(app), current_audit(app)
    result = token_refresher().refresh_now(
        caller.org_id, str(credentials_id), lambda: seconds_left(context), audit=audit
    )
    # A refresh-only caller gets the new access token (what a sync job refreshing on a CRM 401
    # needs), never the refresh token or client secret.
    return credentials_response(200, result, caller, audit, new_access_token=True)


lambda_handler = make_handler(app, action="refresh", scope=SCOPE_REFRESH)
