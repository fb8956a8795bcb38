"""The seed documents' examples, end to end: store, read back, sync workflow, delete."""

import copy
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from .conftest import BASE, SEED_EXAMPLES, Api, Org

SEED_FIELDS = {"id", "org_id", "provider", "dsn", "access_token", "metadata", "created_at", "updated_at"}
# Token refresh added these (a backward-compatible extension of the seed's object).
FIELDS = SEED_FIELDS | {"status", "expires_at", "last_refreshed_at", "last_error"}


def parse_timestamp(value: str) -> datetime:
    assert value.endswith("Z"), value
    return datetime.fromisoformat(value.removesuffix("Z") + "+00:00")


def assert_echoes(credentials: dict[str, Any], org: Org, body: dict[str, Any]) -> None:
    assert set(credentials) == FIELDS
    assert str(uuid.UUID(credentials["id"])) == credentials["id"]
    assert uuid.UUID(credentials["id"]).version == 4
    assert credentials["org_id"] == org.org_id
    assert credentials["provider"] == body["provider"]
    assert credentials["dsn"] == body["dsn"]
    assert credentials["access_token"] == body["access_token"]
    assert credentials["metadata"] == body["metadata"]


def test_seed_provider_examples_are_stored_and_read_back(api: Api, make_org: Callable[..., Org]) -> None:
    # Given an org with an API key minted by the admin CLI
    org = make_org()

    # When the seed's Salesforce, HubSpot and Pipedrive examples are posted verbatim
    created: dict[str, dict[str, Any]] = {}
    for provider, body in SEED_EXAMPLES.items():
        response = api.post(f"{BASE}/", {**org.key, "Content-Type": "application/json"}, json=body)
        # Then each is 201 Created, echoing the body with a generated UUIDv4 id and timestamps
        assert response.status_code == 201, response.text
        assert response.headers["Content-Type"].startswith("application/json")
        created[provider] = response.json()
        assert_echoes(created[provider], org, body)
        assert created[provider]["created_at"] == created[provider]["updated_at"]
        parse_timestamp(created[provider]["created_at"])
    assert len({c["id"] for c in created.values()}) == 3

    # And each reads back identically by provider and by id
    for provider, expected in created.items():
        by_provider = api.get(f"{BASE}/provider/{provider}", org.key)
        assert by_provider.status_code == 200, by_provider.text
        assert by_provider.json() == expected
        by_id = api.get(f"{BASE}/{expected['id']}", org.key)
        assert by_id.status_code == 200, by_id.text
        assert by_id.json() == expected

    # And the list holds exactly the three, with and without the trailing slash
    for path in (f"{BASE}/", BASE):
        listing = api.get(path, org.key)
        assert listing.status_code == 200, (path, listing.text)
        assert isinstance(listing.json(), list)
        assert sorted(listing.json(), key=lambda c: c["id"]) == sorted(
            created.values(), key=lambda c: c["id"]
        ), path


def test_seed_sync_workflow_rotates_token_and_merges_metadata(api: Api, make_org: Callable[..., Org]) -> None:
    # Given the seed's Salesforce credentials
    org = make_org()
    created = api.create(org.key, SEED_EXAMPLES["salesforce"])

    # When the seed's update example is sent
    update = {"access_token": "NEW_ACCESS_TOKEN_HERE", "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"}}
    response = api.put(f"{BASE}/{created['id']}", org.key, json=update)

    # Then it is 200 with the new token
    assert response.status_code == 200, response.text
    assert response.json()["access_token"] == "NEW_ACCESS_TOKEN_HERE"

    # And the seed's integration script reads the rotated token and the untouched instance_url
    creds_response = api.get(f"{BASE}/provider/salesforce", org.key)
    assert creds_response.status_code == 200, creds_response.text
    creds = creds_response.json()
    assert creds == response.json()
    assert creds["id"] == created["id"]
    assert creds["access_token"] == "NEW_ACCESS_TOKEN_HERE"
    assert creds["dsn"] == SEED_EXAMPLES["salesforce"]["dsn"]
    expected_metadata = copy.deepcopy(SEED_EXAMPLES["salesforce"]["metadata"])
    expected_metadata["refresh_token"] = "NEW_REFRESH_TOKEN"
    assert creds["metadata"] == expected_metadata
    assert creds["metadata"]["instance_url"] == "https://mycompany.salesforce.com"
    # And created_at is kept while updated_at moves forward
    assert creds["created_at"] == created["created_at"]
    assert parse_timestamp(creds["updated_at"]) > parse_timestamp(creds["created_at"])


def test_delete_then_gone_then_provider_is_free_again(api: Api, make_org: Callable[..., Org]) -> None:
    # Given stored HubSpot credentials
    org = make_org()
    created = api.create(org.key, SEED_EXAMPLES["hubspot"])
    credentials_id = created["id"]

    # When they are deleted
    response = api.delete(f"{BASE}/{credentials_id}", org.key)

    # Then the seed's confirmation comes back
    assert response.status_code == 200, response.text
    assert response.json() == {"message": f"Integration credentials {credentials_id} deleted successfully"}

    # And every read says they are gone
    not_found = {"detail": f"Integration credentials {credentials_id} not found"}
    by_id = api.get(f"{BASE}/{credentials_id}", org.key)
    assert (by_id.status_code, by_id.json()) == (404, not_found)
    by_provider = api.get(f"{BASE}/provider/hubspot", org.key)
    assert (by_provider.status_code, by_provider.json()) == (
        404,
        {"detail": "Integration credentials for provider 'hubspot' not found"},
    )
    assert api.get(BASE, org.key).json() == []
    # And updating or deleting them again is a 404 too
    again = api.delete(f"{BASE}/{credentials_id}", org.key)
    assert (again.status_code, again.json()) == (404, not_found)
    update = api.put(f"{BASE}/{credentials_id}", org.key, json={"access_token": "after-delete-token-1"})
    assert (update.status_code, update.json()) == (404, not_found)

    # And the provider can be stored again, under a new id
    recreated = api.create(org.key, SEED_EXAMPLES["hubspot"])
    assert recreated["id"] != credentials_id
    assert api.get(f"{BASE}/provider/hubspot", org.key).json() == recreated


def test_unknown_ids_are_404_with_the_id_in_the_detail(api: Api, make_org: Callable[..., Org]) -> None:
    # Given an org with a JWT (no stored credentials)
    org = make_org(with_key=False)
    missing = str(uuid.uuid4())

    # When an id nobody owns is read, updated or deleted
    responses = [
        api.get(f"{BASE}/{missing}", org.bearer),
        api.put(f"{BASE}/{missing}", org.bearer, json={"access_token": "unknown-id-token-1"}),
        api.delete(f"{BASE}/{missing}", org.bearer),
    ]

    # Then each is a 404 naming the id
    for response in responses:
        assert (response.status_code, response.json()) == (
            404,
            {"detail": f"Integration credentials {missing} not found"},
        )
