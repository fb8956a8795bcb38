"""The connect flow's test helpers, shared by the integration modules that drive it: the request
bodies, the fake CRMs the functions' OAuth endpoints point at, and the three steps."""

import json
import os
import urllib.parse
from collections.abc import Iterator
from typing import Any

import boto3
from fake_crms import FakeCrms
from integration_credentials.adapters.parameters import clear_parameter_cache
from integration_credentials.core.constants import REFRESHABLE_PROVIDERS
from local_stack.template import parameter_defaults

from tests.integration.conftest import Stack

PROVIDERS = sorted(REFRESHABLE_PROVIDERS)
RETURN_URL = "https://app.example.com/crm/connected?tab=crm"
CALLBACK = "https://api.example.com/integration-credentials/oauth/callback"
HINTS = {
    "salesforce": {"login_url": "https://test.salesforce.com"},
    "hubspot": {},
    "pipedrive": {},
    "zoho": {},
    "dynamics": {
        "tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "instance_url": "https://contoso.crm4.dynamics.com",
    },
}


def fake_crms(stack: Stack) -> Iterator[FakeCrms]:
    """Fake CRMs holding the OAuth clients the stack stored in SSM; the functions' endpoints
    point at them (OAUTH_AUTHORIZE_URL_* / OAUTH_TOKEN_URL_*)."""
    ssm = boto3.client("ssm", endpoint_url=stack.aws.endpoint)
    prefix = parameter_defaults()["OAuthClientParameterPrefix"]
    clients = {
        provider: json.loads(
            ssm.get_parameter(Name=prefix + provider, WithDecryption=True)["Parameter"]["Value"]
        )
        for provider in PROVIDERS
    }
    for provider in PROVIDERS:
        clients[provider]["redirect_uri"] = CALLBACK
    fakes = FakeCrms(clients).start()
    # The functions must use the clients the fakes know, not one an earlier test left cached.
    clear_parameter_cache()
    saved = {name: os.environ.get(name) for name in fakes.env()}
    os.environ.update(fakes.env())
    yield fakes
    fakes.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query, keep_blank_values=True))


def start(api: Any, headers: dict[str, str], provider: str, **body: Any) -> Any:
    payload = {"provider": provider, "return_url": RETURN_URL, "metadata": HINTS[provider], **body}
    return api.call("connect_credentials", headers=headers, body=payload)


def callback(api: Any, location_or_query: str | dict[str, str]) -> Any:
    query = location_or_query if isinstance(location_or_query, dict) else query_of(location_or_query)
    return api.call("oauth_callback", headers={}, query=query)


def connect_through(api: Any, crms: FakeCrms, headers: dict[str, str], provider: str, **body: Any) -> Any:
    """The whole flow: connect, consent (Allow), callback; the callback's reply."""
    started = start(api, headers, provider, **body)
    assert started.status == 201, started.raw
    location = crms.consent(started.json["connect_url"])
    assert location.startswith(CALLBACK + "?"), location
    return callback(api, location)


def landed(reply: Any) -> dict[str, str]:
    """The return URL's query after a 303 to it."""
    assert reply.status == 303, reply.raw
    location = reply.headers["Location"]
    assert location.startswith("https://app.example.com/crm/connected?")
    return query_of(location)
