"""GET /integration-credentials/{credentials_id} — credentials by id (403 for another org's)."""

from typing import Annotated
from uuid import UUID

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from integration_credentials.api import create_resolver, credentials_response, current_org, make_handler
from integration_credentials.service import credentials_service

app = create_resolver()


@app.get("/integration-credentials/<credentials_id>")
def get_credentials(credentials_id: Annotated[UUID, Path()]) -> Response[str]:
    return credentials_response(200, credentials_service().get_by_id(current_org(app), str(credentials_id)))


lambda_handler = make_handler(app, action="get")
