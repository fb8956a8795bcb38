"""DELETE /integration-credentials/{credentials_id} — delete credentials by id."""

from typing import Annotated
from uuid import UUID

# Loaded at init, not by the first request: a delete enqueues the revocation of its grant.
import integration_credentials.adapters.revocations  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from integration_credentials.core.constants import BOOLEAN_PATTERN, IF_MATCH_PATTERN, SCOPE_WRITE
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import EXAMPLE_ID, TAG, deleted_ok, responses, security
from integration_credentials.http.resolver import create_resolver, current_audit, current_org
from integration_credentials.http.responses import json_response
from integration_credentials.logic.credentials import credentials_service

app = create_resolver()


@app.delete(
    "/integration-credentials/<credentials_id>",
    summary="Delete credentials",
    description=(
        "Permanently deletes credentials by id. With `If-Match`, only at that ETag (412 otherwise). "
        "The grant is then revoked at the CRM, shortly after the answer (the refresh token, else the "
        "access token; Salesforce, HubSpot, Pipedrive and Zoho: Dynamics and `custom` have no "
        "revocation); `revoke=false` keeps it. 503 when the revocation cannot be queued: nothing "
        "is deleted."
    ),
    tags=[TAG],
    operation_id="deleteCredentials",
    security=security(SCOPE_WRITE),
    responses=responses(
        (200, deleted_ok("Deleted")),
        400,
        403,
        404,
        412,
        examples={
            400: {
                "bad_if_match": 'Validation error: If-Match must be * or a list of ETags (such as "3")',
                "bad_revoke": "Validation error: revoke must be true or false",
            },
            404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"},
        },
    ),
)
def delete_credentials(
    credentials_id: Annotated[UUID, Path()],
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN, description="Delete only at one of these ETags, or `*` (412 otherwise)"
        ),
    ] = None,
    revoke: Annotated[
        str | None,
        Query(
            pattern=BOOLEAN_PATTERN,
            description="`false` keeps the grant at the CRM (default `true`: revoke it)",
        ),
    ] = None,
) -> Response[str]:
    credentials_service().delete(
        current_org(app),
        str(credentials_id),
        if_match=if_match,
        audit=current_audit(app),
        revoke=revoke != "false",
    )
    return json_response(200, {"message": f"Integration credentials {credentials_id} deleted successfully"})


lambda_handler = make_handler(app, action="delete", scope=SCOPE_WRITE)
