"""GET /integration-credentials/ — every credential of the caller's org, as a bare array."""

from aws_lambda_powertools.event_handler import Response
from integration_credentials.api import create_resolver, current_org, json_response, make_handler
from integration_credentials.service import credentials_service

app = create_resolver()


@app.get("/integration-credentials/")
@app.get("/integration-credentials")
def list_credentials() -> Response[str]:
    return json_response(200, credentials_service().list(current_org(app)))


lambda_handler = make_handler(app, action="list")
