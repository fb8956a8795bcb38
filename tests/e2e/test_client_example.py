"""clients/python/examples/sync_contacts.py, the seed's integration script written with the client,
run as a sync job runs it: against a local stack of this module's own whose Salesforce is the fake
(its OAuth endpoints and its query resource, in this process so the test can end its sessions),
with a credential made by the connect flow, and a key with only credentials:read and
credentials:refresh. It prints the open leads as contacts; after the fake ends the access token's
session it still does, through exactly one refresh, and no token shows in its output."""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fake_crms import FakeCrms

from .conftest import (
    ROOT,
    RunningStack,
    clean_environment,
    free_port_pair,
    mint_api_key,
    run_admin,
    start_stack,
)

# Every test of this module on one worker: its stack (module-scoped) starts once, not once per worker.
pytestmark = pytest.mark.xdist_group("test_client_example")

EXAMPLE = ROOT / "clients" / "python" / "examples" / "sync_contacts.py"
OPEN_LEADS = [  # the fake Salesforce's leads with IsConverted = false, as the SDR agent's contacts
    {
        "full_name": "Ada Lovelace",
        "email": "ada@analytical.example",
        "company": "Analytical Engines",
        "linkedin_profile": "https://linkedin.com/in/ada",
    },
    {
        "full_name": "Grace Hopper",
        "email": "grace@cobol.example",
        "company": "Compilers Inc",
        "linkedin_profile": "https://linkedin.com/in/grace",
    },
]


@pytest.fixture(scope="module")
def crms() -> Iterator[FakeCrms]:
    with FakeCrms(salesforce_org=True) as fake:
        yield fake


@pytest.fixture(scope="module")
def example_stack(tmp_path_factory: pytest.TempPathFactory, crms: FakeCrms) -> Iterator[RunningStack]:
    """A stack whose Salesforce OAuth endpoints and client are the fake's (what `python -m
    fake_crms` prints for `make run`)."""
    port = free_port_pair()
    client = crms.clients["salesforce"]
    running = start_stack(
        tmp_path_factory.mktemp("client-example") / "stack.log",
        port,
        port + 1,
        LOCAL_REFRESH_INTERVAL_SECONDS="0",
        OAUTH_AUTHORIZE_URL_SALESFORCE=crms.authorize_url("salesforce"),
        OAUTH_TOKEN_URL_SALESFORCE=crms.token_url("salesforce"),
        LOCAL_OAUTH_CLIENT_ID_SALESFORCE=client["client_id"],
        LOCAL_OAUTH_CLIENT_SECRET_SALESFORCE=client["client_secret"],
    )
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


def connect_salesforce(stack: RunningStack, crms: FakeCrms, key: str) -> str:
    """The connect flow, as the example's docstring tells a developer to go through it: the
    credentials id."""
    started = httpx.post(
        f"{stack.base_url}/integration-credentials/connect",
        headers={"X-API-Key": key},
        json={"provider": "salesforce", "return_url": f"http://127.0.0.1:{stack.port}/done"},
        timeout=30,
    )
    assert started.status_code == 201, started.text
    callback = crms.consent(started.json()["connect_url"])
    landed = httpx.get(callback, timeout=30)
    assert landed.status_code == 303, landed.text
    query = dict(httpx.URL(landed.headers["Location"]).params)
    assert query["status"] == "connected", query
    return query["credentials_id"]


def sync_job_key(stack: RunningStack, org_id: str) -> str:
    """The least a sync job needs: credentials:read and credentials:refresh."""
    result = run_admin(
        stack, "create", "--org-id", org_id, "--scope", "credentials:read", "--scope", "credentials:refresh"
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def run_example(stack: RunningStack, key: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=Path(ROOT),
        env=clean_environment(CREDENTIALS_API_URL=stack.base_url, CREDENTIALS_API_KEY=key),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def refreshes(crms: FakeCrms) -> list[tuple[int, str | None]]:
    return [(e.status, e.error) for e in crms.exchanges("salesforce") if e.grant_type == "refresh_token"]


def test_the_example_syncs_the_leads_and_keeps_working_through_an_expired_session(example_stack, crms):
    # Given an org that connected Salesforce (the fake's), and a sync job's key
    org_id = f"org-example-{uuid.uuid4()}"
    admin_key = mint_api_key(example_stack, org_id)
    credentials_id = connect_salesforce(example_stack, crms, admin_key)
    key = sync_job_key(example_stack, org_id)
    stored = httpx.get(
        f"{example_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": admin_key},
        timeout=30,
    ).json()
    assert stored["metadata"]["instance_url"] == crms.instance_url
    calls, before = len(crms.api_calls("salesforce")), refreshes(crms)

    # When the example runs
    first = run_example(example_stack, key)
    # Then it prints the open leads as the SDR agent's contacts, with no refresh needed
    assert first.returncode == 0, first.stderr
    assert [json.loads(line) for line in first.stdout.splitlines()] == OPEN_LEADS
    assert crms.api_calls("salesforce")[calls:] == [200]
    assert refreshes(crms) == before

    # When the fake Salesforce ends the token's session and the example runs again
    assert crms.expire("salesforce") >= 1
    calls = len(crms.api_calls("salesforce"))
    second = run_example(example_stack, key)
    # Then it still prints them: Salesforce's 401, one refresh through the service, the query again
    assert second.returncode == 0, second.stderr
    assert [json.loads(line) for line in second.stdout.splitlines()] == OPEN_LEADS
    assert crms.api_calls("salesforce")[calls:] == [401, 200]
    assert refreshes(crms) == [*before, (200, None)]
    assert f"the CRM refused {credentials_id}'s token, refreshing it" in second.stderr
    refreshed = httpx.get(
        f"{example_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": admin_key},
        timeout=30,
    ).json()
    assert refreshed["access_token"] not in (stored["access_token"], None)

    # And no token, code or key is in anything it printed
    secrets = {*crms.issued("salesforce"), key, admin_key, crms.clients["salesforce"]["client_secret"]}
    for run in (first, second):
        for secret in secrets:
            assert secret not in run.stdout + run.stderr


def test_the_example_tells_the_customer_to_reconnect_when_the_grant_is_dead(example_stack, crms):
    # Given a connected org whose Salesforce user revoked the app (the grant is dead, the session over)
    org_id = f"org-example-{uuid.uuid4()}"
    admin_key = mint_api_key(example_stack, org_id)
    credentials_id = connect_salesforce(example_stack, crms, admin_key)
    stored = httpx.get(
        f"{example_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": admin_key},
        timeout=30,
    ).json()
    crms.crms["salesforce"].grant(stored["metadata"]["refresh_token"], state="revoked")
    crms.expire("salesforce", stored["access_token"])
    # When the example runs
    result = run_example(example_stack, sync_job_key(example_stack, org_id))
    # Then it stops with the reconnect message (exit 2), printing no contact and no token
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "reconnect" in result.stderr.lower()
    for secret in (stored["access_token"], stored["metadata"]["refresh_token"], admin_key):
        assert secret not in result.stdout + result.stderr
