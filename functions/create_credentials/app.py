"""POST /integration-credentials/ — store credentials for a provider (201, 409 if it exists)."""

from aws_lambda_powertools.event_handler import Response
from integration_credentials.api import create_resolver, credentials_response, current_org, make_handler
from integration_credentials.models import CredentialsCreate
from integration_credentials.service import credentials_service

app = create_resolver()


@app.post("/integration-credentials/")
@app.post("/integration-credentials")
def create_credentials(body: CredentialsCreate) -> Response[str]:
    return credentials_response(201, credentials_service().create(current_org(app), body))


lambda_handler = make_handler(app, action="create")
