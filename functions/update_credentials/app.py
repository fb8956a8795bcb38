"""PUT /integration-credentials/{credentials_id} — partial update; metadata is a JSON Merge Patch."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from integration_credentials.api import create_resolver, credentials_response, current_org, make_handler
from integration_credentials.models import CredentialsUpdate
from integration_credentials.service import credentials_service

app = create_resolver()


@app.put("/integration-credentials/<credentials_id>")
def update_credentials(
    credentials_id: Annotated[UUID, Path()],
    body: CredentialsUpdate,
    if_match: Annotated[str | None, Header(description="Update only at this ETag (412 otherwise)")] = None,
) -> Response[str]:
    result = credentials_service().update(current_org(app), str(credentials_id), body, if_match=if_match)
    return credentials_response(200, result)


lambda_handler = make_handler(app, action="update")
