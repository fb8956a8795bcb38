"""The demo data every local stack holds, so that each file in events/ invokes as it is: the demo
org's API key (the one the events carry) and one HubSpot credential with the id the events name
(HubSpot: the demo org's Salesforce stays free for README's first create). When the fake CRMs
serve HubSpot's token endpoint, the credential's tokens are a grant the fake issued through its own
code flow, so that refreshing it works; otherwise its refresh token is one no endpoint accepts.

The demo key is fixed and public (it is in this repository): only a local stack registers it. A
deployed stack never knows it: its keys come from `credentials-admin api-keys create`, which only
mints random ones, and nothing else writes to its API keys table.
"""

import base64
import hashlib
import json
import secrets
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from fake_crms import FakeCrms
from integration_credentials.adapters.auth import api_key_id, hash_api_key
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from integration_credentials.core.constants import ALL_SCOPES
from integration_credentials.core.models import utc_timestamp

from .embedded_aws import FAKE_CREDENTIALS
from .lambda_runtime import FunctionPool
from .provisioning import LocalResources

DEMO_ORG_ID = "123e4567-e89b-12d3-a456-426614174000"  # the seed's example org
# `sk_live_` + 40 base62 characters, the shape of a minted key; "LOCALDEMO" says what it is.
DEMO_API_KEY = "sk_live_LOCALDEMOkeyKnownOnlyToTheLocalStack0001"
DEMO_CREDENTIALS_ID = "3f2b8c1e-6d4a-4b7e-9a51-0c8d2e7f4a10"
# The function whose role and environment store the demo credential (its accesses are create's).
SEEDING_FUNCTION = "CreateCredentialsFunction"
SEEDING_TIMEOUT_SECONDS = 120.0
DEMO_CREDENTIALS: dict[str, Any] = {
    "provider": "hubspot",
    "dsn": "https://api.hubapi.com",
    "access_token": "pat-na1-localdemo-access-token",
    "metadata": {
        "portal_id": "12345678",
        "scopes": ["contacts", "companies", "deals"],
        "refresh_token": "localdemo-refresh-token",
    },
}


def register_demo_key(resources: LocalResources, endpoint: str) -> str:
    """Store the demo key's hash for the demo org, with every scope (as `api-keys create` does);
    returns the key. Registering it again is a no-op."""
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    key_hash = hash_api_key(DEMO_API_KEY)
    ApiKeyRepository(resources.api_keys_table_name, dynamodb).add(
        key_hash, api_key_id(key_hash), DEMO_ORG_ID, utc_timestamp(), ALL_SCOPES
    )
    return DEMO_API_KEY


def fake_grant_credentials(fakes: FakeCrms) -> dict[str, Any]:
    """DEMO_CREDENTIALS with the tokens of a grant the fake HubSpot issued: authorize with PKCE,
    consent, code exchange, as the connect flow goes."""
    provider = DEMO_CREDENTIALS["provider"]
    client = fakes.clients[provider]
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = "http://127.0.0.1/local-demo-seed"
    authorize = {
        "client_id": client["client_id"],
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "state": secrets.token_urlsafe(16),
        "scope": " ".join(DEMO_CREDENTIALS["metadata"]["scopes"]),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    location = fakes.consent(f"{fakes.authorize_url(provider)}?{urlencode(authorize)}")
    (code,) = parse_qs(urlsplit(location).query)["code"]
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "client_id": client["client_id"],
            "client_secret": client["client_secret"],
            "code_verifier": verifier,
        }
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the fake's own http URL
        fakes.token_url(provider), data=form, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        tokens = json.loads(response.read())
    metadata = {**DEMO_CREDENTIALS["metadata"], "refresh_token": tokens["refresh_token"]}
    return {**DEMO_CREDENTIALS, "access_token": tokens["access_token"], "metadata": metadata}


def seed_demo_credentials(env: dict[str, str], credentials: dict[str, Any] | None = None) -> str:
    """Store the demo credential (DEMO_CREDENTIALS unless `credentials` replaces it) through the
    layer's own repository and cipher, in a process of its own with the create function's
    environment `env` (`devserver.function_env`): encrypted, counted and scheduled like any row
    the create route writes. Returns "created", or "exists" when the org already holds it."""
    # Not the function's Timeout: the stack's startup, which warms every function at once on a
    # machine that may be busy, is no invocation with a deadline.
    pool = FunctionPool(
        SEEDING_FUNCTION,
        Path(__file__).parents[1],
        f"{__name__}.seed_handler",
        env,
        1,
        timeout=SEEDING_TIMEOUT_SECONDS,
    )
    try:
        status, result = pool.invoke({**(credentials or DEMO_CREDENTIALS), "id": DEMO_CREDENTIALS_ID})
    finally:
        pool.stop()
    if status != "ok":
        raise RuntimeError(f"seeding the demo credential failed: {result}")
    return str(result)


def seed_handler(event: dict[str, Any], context: Any) -> str:
    """Runs in the seeding process: what `CredentialsService.create` does, with the events' id."""
    from integration_credentials.adapters.crypto.cipher import credentials_cipher
    from integration_credentials.adapters.storage.credentials import credentials_repository
    from integration_credentials.core.errors import CredentialsAlreadyExistError
    from integration_credentials.core.models import CredentialsSecret, StoredCredentials
    from integration_credentials.core.settings import get_settings
    from integration_credentials.policy.schedule import scheduled_state

    now = utc_timestamp()
    row = StoredCredentials(
        id=event["id"],
        org_id=DEMO_ORG_ID,
        provider=event["provider"],
        version=1,
        created_at=now,
        updated_at=now,
        ciphertext=b"",
    )
    secret = CredentialsSecret(
        dsn=event["dsn"], access_token=event["access_token"], metadata=event["metadata"]
    )
    row = row.replace(
        ciphertext=credentials_cipher().encrypt(secret, row.encryption_context),
        state=scheduled_state(row.provider, secret, now=time.time(), settings=get_settings()),
    )
    try:
        credentials_repository().create(row, limit=get_settings().max_credentials_per_org)
    except CredentialsAlreadyExistError:
        return "exists"
    return "created"
