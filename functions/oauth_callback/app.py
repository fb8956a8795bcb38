"""GET /integration-credentials/oauth/callback — where the provider sends the user's browser after
consent. No API key: the single-use `state` authenticates it. 303 to the return URL given at
connect, or 400 when the state is unknown, expired or already used."""

from typing import Annotated

# Loaded at init, not by the first request: every callback decrypts its state, encrypts tokens
# and signs its result (pyjwt).
import integration_credentials.adapters.crypto.cipher  # noqa: F401
import jwt  # noqa: F401
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from integration_credentials.http.handler import make_handler
from integration_credentials.http.openapi import TAG, callback_responses
from integration_credentials.http.resolver import create_resolver, current_audit
from integration_credentials.http.responses import NO_STORE_HEADERS
from integration_credentials.logic.connect import CALLBACK_PATH, CallbackParameters, connector

app = create_resolver()

Text = Annotated[str | None, Query(max_length=4096)]


@app.get(
    CALLBACK_PATH,
    summary="OAuth callback (the provider redirects the user's browser here)",
    description=(
        "Consumes the single-use `state`, exchanges `code` at the provider's token endpoint (with the "
        "PKCE verifier), stores the credentials (new, or the reconnected ones) and redirects (303) to "
        "the return URL with `credentials_id`, `provider` and `status=connected`; with `error` when "
        "the user refused consent or the exchange failed (nothing is stored then). The CRM account of "
        "the new tokens (its identity call) is stored with them; a reconnect to another account "
        "than the stored one is `error=account_mismatch` (nothing stored, the new grant revoked) "
        "unless step 1 said `allow_account_change`; `error=token_rejected` when the CRM refuses its "
        "new token, `error=account_unverified` when a reconnect's account cannot be read. Every "
        "redirect carries `connect_result`, the outcome signed for the return page to verify. Takes no "
        "API key. "
        "An unknown, expired or reused state is a 400, not a redirect. Register this URL as the "
        "redirect URI of each provider's OAuth app."
    ),
    tags=[TAG],
    operation_id="oauthCallback",
    security=[{}],
    responses=callback_responses(),
)
def oauth_callback(
    state: Text = None,
    code: Text = None,
    error: Annotated[str | None, Query(max_length=256)] = None,
    error_description: Text = None,
    accounts_server: Annotated[
        str | None,
        Query(alias="accounts-server", max_length=256, description="Zoho: the user's accounts server"),
    ] = None,
    location: Annotated[str | None, Query(max_length=64, description="Zoho: the user's data centre")] = None,
) -> Response[str]:
    # error_description is the provider's text for the user: never stored, logged or passed on.
    redirect = connector().finish(
        CallbackParameters(
            state=state, code=code, error=error, accounts_server=accounts_server, location=location
        ),
        audit=current_audit(app),
    )
    return Response(
        status_code=303,
        content_type="text/plain",
        body="",
        headers={"Location": redirect, **NO_STORE_HEADERS, "Referrer-Policy": "no-referrer"},
    )


lambda_handler = make_handler(app, action="connect_callback", scope=None)
