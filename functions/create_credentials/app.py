"""POST /integration-credentials/ — store credentials for a provider (201, 409 if it exists).
An `Idempotency-Key` header makes retries safe: the same key and body return the same 201.
`?verify=true` checks them against the CRM first (nothing is stored unless the CRM accepts them)."""

from typing import Annotated

# Loaded at init, not by the first request: every create encrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Query
from integration_credentials.core.bodies.create import CredentialsCreate
from integration_credentials.core.constants import SCOPE_WRITE
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import TAG, credentials_ok, responses, security
from integration_credentials.http.resolver import (
    create_resolver,
    current_audit,
    current_principal,
)
from integration_credentials.http.responses import credentials_response
from integration_credentials.logic.idempotency import create_idempotently

app = create_resolver()


@app.post(
    "/integration-credentials/",
    summary="Store credentials for a provider",
    description=(
        "Stores an organization's credentials for one CRM provider (one set per provider: 409 if it "
        "exists). The same `Idempotency-Key` and body within 24 h return the same 201; the same key "
        "with another body (or another `verify`) is a 409. With `verify=true` the token is first "
        "checked with the CRM's identity call (salesforce, hubspot, pipedrive, zoho, dynamics): a "
        "token the CRM refuses is a 400, a CRM that is down a 503 with Retry-After, and nothing is "
        "stored; the created credentials carry `account` and `verified_at`."
    ),
    tags=[TAG],
    operation_id="createCredentials",
    security=security(SCOPE_WRITE),
    responses=responses(
        (201, credentials_ok("Created: the stored credentials, with their new id")),
        400,
        409,
        413,
        415,
        502,
        503,
        examples={
            400: {
                "crm_rejected": "The CRM rejected these credentials: http_401: the CRM refused the token",
                "not_verifiable": (
                    "Validation error: verify: provider 'custom' has no identity call to verify against"
                ),
                "missing_field": "Validation error: provider field is required",
                "not_json": "Validation error: request body is not valid JSON",
                "too_deep": "Validation error: metadata nests deeper than 32 levels",
            },
            409: {
                "exists": "Integration credentials for provider 'salesforce' already exist",
                "idempotency_key_reused": "Idempotency-Key was already used with a different request body",
                "too_many": (
                    "The organization already holds the maximum of 100 integration credentials; "
                    "delete some before storing more"
                ),
            },
            502: {
                "no_account": (
                    "The hubspot API did not say which account these credentials belong to "
                    "(invalid_answer); nothing was stored"
                ),
            },
            503: {
                "crm": (
                    "The salesforce API is unavailable (http_503): the credentials were not verified "
                    "nor stored; retry later"
                ),
                "dependency": "Service temporarily unavailable (DynamoDB); retry later",
            },
        },
    ),
)
@app.post("/integration-credentials", include_in_schema=False)
def create_credentials(
    body: CredentialsCreate,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes retries of this create safe",
        ),
    ] = None,
    verify: Annotated[
        str | None,
        Query(
            pattern=r"^(true|false)$",
            description="`true`: check the credentials against the CRM before storing them",
        ),
    ] = None,
) -> Response[str]:
    caller, audit = current_principal(app), current_audit(app)
    result = create_idempotently(
        caller.org_id, body, idempotency_key, app.lambda_context, audit=audit, verify=verify == "true"
    )
    return credentials_response(
        201,
        result,
        caller,
        audit,
        sent_access_token=True,
        sent_metadata=body.metadata,
        echo=True,
    )


lambda_handler = make_handler(app, action="create", scope=SCOPE_WRITE)
