"""On-demand token refresh (POST /integration-credentials/{id}/refresh) and the refresh rules:
single flight, rotation, leases, re-authorization and recovery, events, no plaintext at rest."""

import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import fake_crms as fake
import pytest
from fake_crms import Reply
from integration_credentials.adapters import parameters
from integration_credentials.adapters.storage.leases import refresh_leases
from integration_credentials.core import settings
from integration_credentials.logic import refresh
from integration_credentials.logic.refresh import token_refresher

from tests.plaintext import leaks_in_bytes, leaks_in_items

INSTANCE_URL = "https://acme.my.salesforce.com"


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def salesforce_body(**metadata: Any) -> dict[str, Any]:
    return {
        "provider": "salesforce",
        "dsn": INSTANCE_URL,
        "access_token": "00D5g000001234567!AQYAQoldAccessToken0123456789",
        "metadata": {
            "instance_url": INSTANCE_URL,
            "refresh_token": fake.REFRESH_TOKEN,
            "client_id": fake.CLIENT_ID,
            "client_secret": fake.CLIENT_SECRET,
            **metadata,
        },
    }


def item(stack: Any, org_id: str, provider: str) -> dict[str, Any]:
    key = {"org_id": {"S": org_id}, "provider": {"S": provider}}
    found: dict[str, Any] = stack.dynamodb.get_item(
        TableName=stack.resources.table_name, Key=key, ConsistentRead=True
    )["Item"]
    return found


# ---- the route ---------------------------------------------------------------------------------


def test_refresh_returns_the_new_token_and_records_it(api, stack, org_headers, org_id, salesforce_endpoint):
    # Given Salesforce credentials with a refresh token, and Salesforce answering as documented
    endpoint = salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    assert created["status"] == "active" and created["expires_at"] > created["created_at"]
    # When a sync job asks for a refresh
    refreshed = api.refresh(org_headers, created["id"])
    # Then it gets the new access token, and the credentials say when it was refreshed
    assert refreshed.status == 200, refreshed.raw
    body = refreshed.json
    assert body["access_token"] == fake.NEW_ACCESS_TOKEN
    assert body["status"] == "active" and body["last_error"] is None
    assert body["last_refreshed_at"] is not None and body["last_refreshed_at"] >= created["updated_at"]
    # Salesforce states no lifetime: the default (2 h) applies
    expires = datetime.strptime(body["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert timedelta(minutes=115) < expires - datetime.now(UTC) <= timedelta(hours=2)
    # No refresh_token in the response: the stored one is kept; instance_url follows the response
    assert body["metadata"]["refresh_token"] == fake.REFRESH_TOKEN
    assert body["metadata"]["instance_url"] == "https://mycompany.my.salesforce.com"
    assert refreshed.headers["ETag"] == '"2"'
    # And every read returns it, the provider was asked once with the stored refresh token
    assert api.get(org_headers, created["id"]).json == body
    assert len(endpoint.received) == 1
    assert endpoint.received[0].form["refresh_token"] == [fake.REFRESH_TOKEN]
    # And it is scheduled again ahead of the new expiry (margin 15 min)
    stored = item(stack, org_id, "salesforce")
    assert int(stored["refresh_due"]["N"]) == pytest.approx(expires.timestamp() - 900, abs=2)


def test_a_refresh_writes_the_row_alone_and_gives_the_lease_back_with_the_tokens(
    api, stack, org_headers, org_id, salesforce_endpoint
):
    # Given refreshable credentials (their id mirror as the create wrote it)
    salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    mirror = item(stack, f"ID#{created['id']}", "ID")
    # When a refresh is asked for
    stack.aws.reset_calls()
    refreshed = api.refresh(org_headers, created["id"])
    calls = {op: n for (svc, op), n in stack.aws.calls().items() if svc == "dynamodb"}
    # Then DynamoDB saw the by-id read and two single-item writes of the row: the lease's take
    # and the tokens' write, which gives the lease back (no transaction: the mirror is not copied)
    assert refreshed.status == 200, refreshed.raw
    assert calls.pop("UpdateItem") == 2 and set(calls) == {"GetItem"}
    assert "lease_owner" not in item(stack, org_id, "salesforce")
    assert item(stack, f"ID#{created['id']}", "ID") == mirror
    assert api.get(org_headers, created["id"]).json == refreshed.json


def test_refresh_of_another_orgs_credentials_is_403_and_calls_nobody(
    api, org_headers, other_org_headers, salesforce_endpoint
):
    endpoint = salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    denied = api.refresh(other_org_headers, created["id"])
    assert denied.status == 403
    assert denied.json == {"detail": "You do not have permission to access this resource"}
    assert api.refresh(org_headers, str(uuid.uuid4())).status == 404
    assert api.refresh({}, created["id"]).status == 401
    assert endpoint.received == []
    assert api.get(org_headers, created["id"]).json == created


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            {
                "provider": "custom-crm",
                "dsn": "https://crm.example.com",
                "access_token": "tok",
                "metadata": {},
            },
            "provider 'custom-crm' has no token refresh",
        ),
        (
            {"provider": "salesforce", "dsn": INSTANCE_URL, "access_token": "tok", "metadata": {}},
            "metadata has no refresh_token",
        ),
    ],
)
def test_credentials_without_a_refresh_are_409(api, org_headers, body, reason):
    created = api.create(org_headers, body).json
    answer = api.refresh(org_headers, created["id"])
    assert answer.status == 409
    assert answer.json == {"detail": f"Integration credentials {created['id']} cannot be refreshed: {reason}"}


def test_a_dead_grant_needs_reauthorization_until_a_put_brings_new_tokens(
    api, stack, org_headers, org_id, salesforce_endpoint, event_queue
):
    # Given Salesforce says the refresh token is dead
    endpoint = salesforce_endpoint(fake.salesforce("dead"))
    created = api.create(org_headers, salesforce_body()).json
    # When a refresh is asked for
    answer = api.refresh(org_headers, created["id"])
    # Then the caller is told to re-authorize, and the credentials say so
    assert answer.status == 409
    assert answer.json["detail"] == (
        f"Integration credentials {created['id']} need re-authorization (invalid_grant): store new tokens with PUT"
    )
    read = api.get(org_headers, created["id"]).json
    assert read["status"] == "reauth_required"
    assert read["last_error"]["code"] == "invalid_grant"
    assert read["access_token"] == created["access_token"]
    # And the scheduler stops retrying it (it left the refresh index), and asking again calls nobody
    assert "refresh_due" not in item(stack, org_id, "salesforce")
    assert api.refresh(org_headers, created["id"]).status == 409
    assert len(endpoint.received) == 1
    # And an event says so
    events = event_queue()
    assert [e["detail-type"] for e in events] == ["Integration Credentials Reauthorization Required"]
    assert events[0]["source"] == "integration-credentials"
    assert events[0]["detail"]["id"] == created["id"]
    assert events[0]["detail"]["status"] == "reauth_required"
    assert events[0]["detail"]["last_error"]["code"] == "invalid_grant"
    assert fake.REFRESH_TOKEN not in json.dumps(events)
    # When the user reconnects with new tokens
    updated = api.update(
        org_headers,
        created["id"],
        {"access_token": "fresh-access", "metadata": {"refresh_token": "fresh-refresh"}},
    ).json
    # Then the credentials are active again, scheduled again, and an event says they recovered
    assert updated["status"] == "active" and updated["last_error"] is None
    assert "refresh_due" in item(stack, org_id, "salesforce")
    assert [e["detail-type"] for e in event_queue()] == ["Integration Credentials Recovered"]


def test_a_provider_outage_is_503_with_retry_after_and_is_recorded(api, org_headers, salesforce_endpoint):
    salesforce_endpoint(fake.fixed(Reply(503, {"error": "unavailable"}, {"Retry-After": "120"})))
    created = api.create(org_headers, salesforce_body()).json
    answer = api.refresh(org_headers, created["id"])
    assert answer.status == 503
    assert answer.json == {
        "detail": "The salesforce token endpoint is unavailable (unavailable); retry later"
    }
    assert int(answer.headers["Retry-After"]) >= 120
    read = api.get(org_headers, created["id"]).json
    assert read["status"] == "refresh_failed"
    assert read["last_error"]["code"] == "unavailable"
    assert read["access_token"] == created["access_token"]


def test_a_rejected_oauth_client_is_502(api, org_headers, salesforce_endpoint):
    salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body(client_secret="wrong-secret")).json
    answer = api.refresh(org_headers, created["id"])
    assert answer.status == 502
    assert answer.json == {
        "detail": "The salesforce token endpoint rejected the refresh request (invalid_client)"
    }
    assert api.get(org_headers, created["id"]).json["status"] == "refresh_failed"


def test_the_oauth_client_comes_from_the_secret_store(api, stack, org_headers, salesforce_endpoint):
    # Given the platform's Salesforce OAuth app in its SSM SecureString, and credentials without one
    endpoint = salesforce_endpoint(fake.salesforce())
    ssm = boto3.client("ssm", endpoint_url=stack.aws.endpoint)
    name = settings.get_settings().oauth_client_parameter_prefix + "salesforce"
    previous = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    ssm.put_parameter(
        Name=name,
        Value=json.dumps({"client_id": fake.CLIENT_ID, "client_secret": fake.CLIENT_SECRET}),
        Type="SecureString",
        Overwrite=True,
    )
    try:
        body = salesforce_body()
        del body["metadata"]["client_id"], body["metadata"]["client_secret"]
        created = api.create(org_headers, body).json
        # No client cached from an earlier test (the refresher's nor the parameter provider's)
        refresh.token_refresher.cache_clear()
        parameters.clear_parameter_cache()
        # When refreshed, Then the configured client was used
        assert api.refresh(org_headers, created["id"]).status == 200
        assert endpoint.received[0].form["client_id"] == [fake.CLIENT_ID]
    finally:
        ssm.put_parameter(Name=name, Value=previous, Type="SecureString", Overwrite=True)
        # Nor leave this test's client cached for later ones (the connect tests use the stored one)
        parameters.clear_parameter_cache()


# ---- single flight, rotation, leases -----------------------------------------------------------


def test_eight_concurrent_refreshes_make_one_provider_call(api, org_headers, org_id, salesforce_endpoint):
    # Given a slow Salesforce with rotation
    chain = fake.RotatingChain(delay=0.5)
    endpoint = salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body()).json
    # When eight sync jobs ask for a refresh at once
    barrier = threading.Barrier(8)

    def refresh_now() -> dict[str, Any]:
        barrier.wait()
        return token_refresher().refresh_now(org_id, created["id"]).body

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda _: refresh_now(), range(8)))
    # Then the provider was called once, and all eight got its new token
    assert len(endpoint.received) == 1
    assert {r["access_token"] for r in results} == {api.get(org_headers, created["id"]).json["access_token"]}
    assert chain.replayed == [] and not chain.revoked
    assert api.get(org_headers, created["id"]).json["metadata"]["refresh_token"] == chain.current


def test_a_rotated_refresh_token_is_never_replayed(api, org_headers, org_id, salesforce_endpoint, tuned):
    # Given rotation, and no minimum interval between refreshes
    tuned(REFRESH_MIN_INTERVAL_SECONDS="0")
    chain = fake.RotatingChain()
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body()).json
    # When it is refreshed over and over, sequentially and concurrently
    for _ in range(3):
        assert api.refresh(org_headers, created["id"]).status == 200
    with ThreadPoolExecutor(6) as pool:
        list(pool.map(lambda _: token_refresher().refresh_now(org_id, created["id"]), range(12)))
    # Then each refresh token was used once, the chain is alive, and the latest one is stored
    assert chain.replayed == [] and not chain.revoked
    assert len(chain.used) == len(set(chain.used)) >= 4
    assert api.get(org_headers, created["id"]).json["metadata"]["refresh_token"] == chain.current


def test_a_put_during_a_refresh_keeps_the_rotated_refresh_token(api, org_headers, salesforce_endpoint):
    # Given a Salesforce with rotation that answers only when the test lets it
    answer = threading.Event()
    chain = fake.RotatingChain(answer_after=answer)
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body(api_version="v58.0")).json
    # When a user changes other fields while the refresh is at the provider
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(token_refresher().refresh_now, created["org_id"], created["id"])
        time.sleep(0.2)
        put = api.update(org_headers, created["id"], {"dsn": "https://acme2.my.salesforce.com"})
        answer.set()
        result = pending.result().body
    # Then both changes are kept: the user's dsn and the provider's rotated tokens
    assert put.status == 200
    final = api.get(org_headers, created["id"]).json
    assert final == result
    assert final["dsn"] == "https://acme2.my.salesforce.com"
    assert final["metadata"]["refresh_token"] == chain.current
    assert final["access_token"] != created["access_token"]


def test_a_reconnect_during_a_refresh_wins_over_the_old_grant(api, org_headers, salesforce_endpoint):
    # Given a slow Salesforce with rotation
    chain = fake.RotatingChain(delay=0.6)
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body()).json
    # When the user reconnects (new tokens) while a refresh of the old grant is at the provider
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(token_refresher().refresh_now, created["org_id"], created["id"])
        time.sleep(0.2)
        reconnect = {
            "access_token": "reconnected-access",
            "metadata": {"refresh_token": "reconnected-refresh"},
        }
        assert api.update(org_headers, created["id"], reconnect).status == 200
        pending.result()
    # Then the reconnected grant is what is stored
    final = api.get(org_headers, created["id"]).json
    assert final["access_token"] == "reconnected-access"
    assert final["metadata"]["refresh_token"] == "reconnected-refresh"


def test_a_dead_lease_holder_does_not_block_the_credentials(api, org_headers, org_id, salesforce_endpoint):
    # Given a refresher that took the lease and died (its lease runs out in 1.5 s)
    endpoint = salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    lease_ms = settings.get_settings().refresh_lease_seconds * 1000
    leases = refresh_leases()
    now_ms = int(time.time() * 1000)
    taken = leases.acquire(
        org_id,
        "salesforce",
        created["id"],
        "crashed-worker",
        now_ms=now_ms - lease_ms + 1500,
        lease_ms=lease_ms,
    )
    assert taken is not None
    # When a sync job asks for a refresh
    started = time.monotonic()
    answer = api.refresh(org_headers, created["id"])
    # Then it waited for the lease to expire, and refreshed
    assert answer.status == 200
    assert answer.json["access_token"] == fake.NEW_ACCESS_TOKEN
    assert time.monotonic() - started >= 1.0
    assert len(endpoint.received) == 1


def test_a_live_holder_past_the_wait_is_409_retry(api, org_headers, org_id, salesforce_endpoint, tuned):
    tuned(REFRESH_WAIT_SECONDS="0.3")
    endpoint = salesforce_endpoint(fake.salesforce())
    created = api.create(org_headers, salesforce_body()).json
    leases = refresh_leases()
    leases.acquire(
        org_id, "salesforce", created["id"], "busy-worker", now_ms=int(time.time() * 1000), lease_ms=60_000
    )
    answer = api.refresh(org_headers, created["id"])
    assert answer.status == 409
    assert answer.headers["Retry-After"] == "1"
    assert answer.json == {
        "detail": f"A token refresh of integration credentials {created['id']} is in progress; retry"
    }
    assert endpoint.received == []
    leases.release(org_id, "salesforce", "busy-worker")


def test_a_put_does_not_drop_a_lease(api, stack, org_headers, org_id):
    created = api.create(org_headers, salesforce_body()).json
    leases = refresh_leases()
    leases.acquire(
        org_id, "salesforce", created["id"], "worker-1", now_ms=int(time.time() * 1000), lease_ms=60_000
    )
    assert api.update(org_headers, created["id"], {"dsn": "https://x.my.salesforce.com"}).status == 200
    assert item(stack, org_id, "salesforce")["lease_owner"] == {"S": "worker-1"}
    leases.release(org_id, "salesforce", "worker-1")
    assert "lease_owner" not in item(stack, org_id, "salesforce")


# ---- secrets -----------------------------------------------------------------------------------


def test_refreshed_tokens_stay_encrypted_and_out_of_logs(
    api, stack, org_headers, salesforce_endpoint, capsys, caplog
):
    chain = fake.RotatingChain()
    salesforce_endpoint(chain.behaviour())
    created = api.create(org_headers, salesforce_body()).json
    refreshed = api.refresh(org_headers, created["id"]).json
    secrets = [refreshed["access_token"], chain.current, fake.REFRESH_TOKEN, fake.CLIENT_SECRET]
    assert leaks_in_items(stack.scan(), secrets) == []
    logged = capsys.readouterr()
    assert leaks_in_bytes(logged.out + logged.err + caplog.text, secrets) == []
