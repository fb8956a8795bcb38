"""POST /integration-credentials/ — store credentials for a provider (201, 409 if it exists).
An `Idempotency-Key` header makes retries safe: the same key and body return the same 201."""

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header
from integration_credentials.api import create_resolver, credentials_response, current_org, make_handler
from integration_credentials.idempotency import create_idempotently
from integration_credentials.models import CredentialsCreate

app = create_resolver()


@app.post("/integration-credentials/")
@app.post("/integration-credentials")
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
) -> Response[str]:
    return credentials_response(
        201, create_idempotently(current_org(app), body, idempotency_key, app.lambda_context)
    )


lambda_handler = make_handler(app, action="create")
