"""PUT /integration-credentials/{credentials_id} — partial update; metadata is a JSON Merge Patch."""

from typing import Annotated
from uuid import UUID

# Loaded at init, not by the first request: every update re-encrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from integration_credentials.core.bodies.update import CredentialsUpdate
from integration_credentials.core.constants import IF_MATCH_PATTERN, SCOPE_WRITE
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


@app.put(
    "/integration-credentials/<credentials_id>",
    summary="Update credentials",
    description=(
        "Partial update: `dsn`, `access_token`, `metadata` are optional (at least one). `metadata` "
        "is a JSON Merge Patch (RFC 7396): keys given replace, `null` removes, the others stay. The "
        "provider cannot be changed. With `If-Match`, only at that ETag (412 otherwise)."
    ),
    tags=[TAG],
    operation_id="updateCredentials",
    security=security(SCOPE_WRITE),
    responses=responses(
        (200, credentials_ok("The updated credentials")),
        400,
        403,
        404,
        409,
        412,
        413,
        415,
        examples={
            400: {
                "provider_change": "Validation error: provider cannot be changed",
                "empty_update": ("Validation error: at least one of dsn, access_token, metadata is required"),
                "bad_if_match": 'Validation error: If-Match must be * or a list of ETags (such as "3")',
                "nan": "Validation error: request body is not valid JSON (NaN is not a JSON number)",
            },
            404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"},
            409: {"concurrent": "Integration credentials were modified concurrently; retry the request"},
        },
    ),
)
def update_credentials(
    credentials_id: Annotated[UUID, Path()],
    body: CredentialsUpdate,
    if_match: Annotated[
        str | None,
        Header(
            pattern=IF_MATCH_PATTERN, description="Update only at one of these ETags, or `*` (412 otherwise)"
        ),
    ] = None,
) -> Response[str]:
    caller, audit = current_principal(app), current_audit(app)
    result = credentials_service().update(
        caller.org_id, str(credentials_id), body, if_match=if_match, audit=audit
    )
    return credentials_response(
        200,
        result,
        caller,
        audit,
        sent_access_token=body.access_token is not None,
        sent_metadata=body.metadata,
    )


lambda_handler = make_handler(app, action="update", scope=SCOPE_WRITE)
