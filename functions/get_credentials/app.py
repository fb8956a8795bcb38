"""GET /integration-credentials/{credentials_id} — credentials by id (403 for another org's)."""

from typing import Annotated
from uuid import UUID

# Loaded at init, not by the first request: every answer decrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.core.constants import SCOPE_READ
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import EXAMPLE_ID, TAG, credentials_ok, responses, security
from integration_credentials.http.resolver import (
    create_resolver,
    current_audit,
    current_principal,
)
from integration_credentials.http.responses import credentials_response
from integration_credentials.logic.credentials import credentials_service

app = create_resolver()


@app.get(
    "/integration-credentials/<credentials_id>",
    summary="Get credentials by id",
    description="Credentials by id; another organization's id is a 403, an unknown (or non-UUID) id a 404.",
    tags=[TAG],
    operation_id="getCredentials",
    security=security(SCOPE_READ),
    responses=responses(
        (200, credentials_ok("The credentials")),
        403,
        404,
        examples={404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"}},
    ),
)
def get_credentials(credentials_id: Annotated[UUID, Path()]) -> Response[str]:
    caller, audit = current_principal(app), current_audit(app)
    result = credentials_service().get_by_id(caller.org_id, str(credentials_id), audit=audit)
    return credentials_response(200, result, caller, audit)


lambda_handler = make_handler(app, action="get", scope=SCOPE_READ)
