"""PUT /integration-credentials/{credentials_id} — partial update; metadata is a JSON Merge Patch."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.api import create_resolver, current_org, json_response, make_handler
from integration_credentials.models import CredentialsUpdate
from integration_credentials.service import credentials_service

app = create_resolver()


@app.put("/integration-credentials/<credentials_id>")
def update_credentials(credentials_id: Annotated[UUID, Path()], body: CredentialsUpdate) -> Response[str]:
    return json_response(200, credentials_service().update(current_org(app), str(credentials_id), body))


lambda_handler = make_handler(app, action="update")
