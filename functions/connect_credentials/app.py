"""POST /integration-credentials/connect — start connecting a CRM (or reconnecting credentials) with
the provider's OAuth authorization-code flow: 201 with the URL to send the user's browser to."""

# Loaded at init, not by the first request: every connect encrypts its state.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from integration_credentials.core.bodies.connect import ConnectRequest
from integration_credentials.core.constants import SCOPE_WRITE
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import EXAMPLE_ID, TAG, connect_ok, responses, security
from integration_credentials.http.resolver import create_resolver, current_audit, current_principal
from integration_credentials.http.responses import json_response
from integration_credentials.logic.connect import callback_url, connector

app = create_resolver()


@app.post(
    "/integration-credentials/connect",
    summary="Connect a CRM with OAuth (or reconnect credentials)",
    description=(
        "Starts the provider's OAuth authorization-code flow (salesforce, hubspot, pipedrive, zoho, "
        "dynamics): send the user's browser to `connect_url`; after consent the provider sends it to "
        "`GET /integration-credentials/oauth/callback`, which stores the credentials and redirects to "
        "`return_url` with `credentials_id`, `provider` and `status=connected` (or `error`). With "
        "`credentials_id`, the same credentials are reconnected: same id and created_at, new tokens, "
        "status active; new tokens of another CRM account than the credentials' are refused at the "
        "callback (`error=account_mismatch`) unless `allow_account_change` is true. "
        "`return_url` must be on the deployment's allow-list. The link is single-use "
        "and expires (10 minutes by default); an organisation has at most MAX_CONNECT_STATES_PER_ORG "
        "(20 by default) in progress, then 429. `end_user` binds the link to the platform's user: "
        "the return URL gets a signed `connect_result` naming it and `state_hash`, which the "
        "return page checks against its session."
    ),
    tags=[TAG],
    operation_id="connectCredentials",
    security=security(SCOPE_WRITE),
    responses=responses(
        (201, connect_ok("Started: send the user's browser to connect_url")),
        400,
        404,
        409,
        413,
        415,
        429,
        examples={
            400: {
                "return_url": (
                    "Validation error: return_url is not allowed by this deployment (CONNECT_RETURN_URLS)"
                ),
                "provider": (
                    "Validation error: provider 'my-crm' has no connect flow "
                    "(one of: dynamics, hubspot, pipedrive, salesforce, zoho)"
                ),
                "no_client": "Validation error: no OAuth client configured for provider 'zoho'",
                "allow_account_change": "Validation error: allow_account_change must be true or false",
            },
            404: {"not_found": f"Integration credentials {EXAMPLE_ID} not found"},
            409: {"exists": "Integration credentials for provider 'salesforce' already exist"},
            429: {
                "too_many_links": (
                    "The organization already has the maximum of 20 connect links in progress; "
                    "retry when one is used or expires"
                )
            },
        },
    ),
)
def connect_credentials(body: ConnectRequest) -> Response[str]:
    start = connector().start(
        current_principal(app),
        body,
        callback_url=callback_url(app.current_event.request_context.domain_name),
        audit=current_audit(app),
    )
    body = {"connect_url": start.connect_url, "expires_at": start.expires_at, "state_hash": start.state_hash}
    return json_response(201, body, {"Cache-Control": "no-store"})


lambda_handler = make_handler(app, action="connect", scope=SCOPE_WRITE)
