"""Authentication on all six routes: every bad credential is the same 401, and it comes first."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from .conftest import (
    BASE,
    FORBIDDEN,
    SEED_EXAMPLES,
    UNAUTHORIZED,
    Api,
    Org,
    RunningStack,
    make_jwt,
    mint_api_key,
    random_well_formed_key,
    unsigned_jwt,
)

ROUTES = ["create", "list", "list_no_slash", "get_by_provider", "get_by_id", "update", "delete"]


@dataclass(frozen=True)
class World:
    org: Org  # with an API key
    other: Org  # another org, JWT only
    credentials: dict[str, Any]  # org's stored Salesforce credentials


@pytest.fixture(scope="module")
def world(api: Api, stack: RunningStack) -> World:
    org_id = str(uuid.uuid4())
    org = Org(org_id, mint_api_key(stack, org_id))
    other = Org(str(uuid.uuid4()), None)
    credentials = api.create(org.key, SEED_EXAMPLES["salesforce"])
    return World(org, other, credentials)


def call(api: Api, route: str, headers: dict[str, str], credentials_id: str) -> requests.Response:
    body = {**SEED_EXAMPLES["pipedrive"], "access_token": "unauthenticated-post-token"}
    if route == "create":
        return api.post(f"{BASE}/", headers, json=body)
    if route == "list":
        return api.get(f"{BASE}/", headers)
    if route == "list_no_slash":
        return api.get(BASE, headers)
    if route == "get_by_provider":
        return api.get(f"{BASE}/provider/salesforce", headers)
    if route == "get_by_id":
        return api.get(f"{BASE}/{credentials_id}", headers)
    if route == "update":
        return api.put(
            f"{BASE}/{credentials_id}", headers, json={"access_token": "unauthenticated-put-token"}
        )
    assert route == "delete"
    return api.delete(f"{BASE}/{credentials_id}", headers)


def bad_credentials(world: World) -> dict[str, dict[str, str]]:
    org_id = world.org.org_id
    return {
        "no header": {},
        "unknown well-formed key": {"X-API-Key": random_well_formed_key()},
        "garbage key": {"X-API-Key": "garbage"},
        "empty key": {"X-API-Key": ""},
        "expired JWT": {"Authorization": f"Bearer {make_jwt(org_id, expires_in=-3600)}"},
        "JWT without exp": {"Authorization": f"Bearer {make_jwt(org_id, expires_in=None)}"},
        "JWT signed with another secret": {
            "Authorization": f"Bearer {make_jwt(org_id, secret='another-secret-' + uuid.uuid4().hex)}"
        },
        "alg none JWT": {"Authorization": f"Bearer {unsigned_jwt(org_id)}"},
        "JWT without org_id": {
            "Authorization": f"Bearer {make_jwt(org_id, extra={'org_id': None})}",
        },
        "JWT without iss": {"Authorization": f"Bearer {make_jwt(org_id, extra={'iss': None})}"},
        "JWT without aud": {"Authorization": f"Bearer {make_jwt(org_id, extra={'aud': None})}"},
        "JWT of another issuer": {
            "Authorization": f"Bearer {make_jwt(org_id, extra={'iss': 'another-issuer'})}"
        },
        "JWT for another audience": {
            "Authorization": f"Bearer {make_jwt(org_id, extra={'aud': 'another-api'})}"
        },
        "JWT with a scope object": {
            "Authorization": f"Bearer {make_jwt(org_id, extra={'scope': {'credentials:read': True}})}"
        },
        "not a bearer token": {"Authorization": f"Basic {make_jwt(org_id)}"},
        "API key + JWT of another org": {
            **world.org.key,
            "Authorization": f"Bearer {make_jwt(world.other.org_id)}",
        },
        "valid JWT + unknown API key": {
            "X-API-Key": random_well_formed_key(),
            "Authorization": f"Bearer {make_jwt(org_id)}",
        },
    }


@pytest.mark.parametrize("route", ROUTES)
def test_bad_credentials_get_the_same_401_on_every_route(api: Api, world: World, route: str) -> None:
    # Given org A's stored credentials (by-id routes target them: they exist)
    credentials_id = world.credentials["id"]

    for name, headers in bad_credentials(world).items():
        # When the route is called with a missing or invalid credential
        response = call(api, route, headers, credentials_id)
        # Then it is 401 with the seed's exact body
        assert response.status_code == 401, (route, name, response.status_code, response.text)
        assert response.json() == UNAUTHORIZED, (route, name)

    # And nothing changed: the credentials are intact and nothing new was stored
    assert api.get(f"{BASE}/{credentials_id}", world.org.key).json() == world.credentials
    assert api.get(BASE, world.org.key).json() == [world.credentials]


@pytest.mark.parametrize("route", ROUTES)
def test_a_valid_jwt_alone_works_on_every_route(api: Api, make_org: Callable[..., Org], route: str) -> None:
    # Given an org that only has JWTs (no API key) and stored Salesforce credentials
    org = make_org(with_key=False)
    credentials = api.create(org.bearer, SEED_EXAMPLES["salesforce"])

    # When the route is called with a bearer token only
    response = call(api, route, org.bearer, credentials["id"])

    # Then it succeeds
    expected = {"create": 201, "delete": 200}.get(route, 200)
    assert response.status_code == expected, (route, response.text)
    if route in {"get_by_id", "get_by_provider"}:
        assert response.json() == credentials
    if route in {"list", "list_no_slash"}:
        assert response.json() == [credentials]
    if route == "update":
        assert response.json()["access_token"] == "unauthenticated-put-token"
    if route == "create":
        assert response.json()["org_id"] == org.org_id


@pytest.mark.parametrize(
    "claims",
    [
        {"scope": "credentials:read"},
        {"scope": ["credentials:read"]},
        {"scp": "credentials:read openid"},
        {"scp": ["credentials:read", "openid"]},
    ],
)
def test_scope_and_scp_as_a_string_or_an_array(api: Api, world: World, claims: dict[str, Any]) -> None:
    # Given a read-only token in each spelling identity providers use (Entra ID: `scp`)
    headers = {"Authorization": f"Bearer {make_jwt(world.other.org_id, extra=claims)}"}
    # Then it reads, and may neither write nor refresh
    assert api.get(BASE, headers).status_code == 200
    created = api.post(
        f"{BASE}/", headers, json={**SEED_EXAMPLES["pipedrive"], "access_token": "read-only-post"}
    )
    assert (created.status_code, created.json()) == (403, FORBIDDEN)
    refreshed = api.post(f"{BASE}/{uuid.uuid4()}/refresh", headers)
    assert (refreshed.status_code, refreshed.json()) == (403, FORBIDDEN)


def test_api_key_and_jwt_of_the_same_org_work_together(api: Api, world: World) -> None:
    # Given org A's API key and a JWT for org A
    headers = {**world.org.key, "Authorization": f"Bearer {make_jwt(world.org.org_id)}"}

    # When both are sent
    response = api.get(f"{BASE}/{world.credentials['id']}", headers)

    # Then the request is served as org A
    assert response.status_code == 200, response.text
    assert response.json()["org_id"] == world.org.org_id


def test_401_comes_before_404_and_400(api: Api, world: World) -> None:
    # Given an id nobody owns, an unknown provider, and an invalid body
    missing = str(uuid.uuid4())

    # When they are requested without credentials
    unauthenticated = [
        api.get(f"{BASE}/{missing}"),
        api.put(f"{BASE}/{missing}", json={"access_token": "no-auth-token-404"}),
        api.delete(f"{BASE}/{missing}"),
        api.get(f"{BASE}/not-a-uuid"),
        api.get(f"{BASE}/provider/unknown-provider"),
        api.post(f"{BASE}/", json={"dsn": 42}),
        api.post(f"{BASE}/", data="{not json", headers={"Content-Type": "application/json"}),
        api.put(f"{BASE}/{world.credentials['id']}", json={"provider": "hubspot"}),
    ]

    # Then each is 401, not 404 or 400
    for response in unauthenticated:
        assert (response.status_code, response.json()) == (401, UNAUTHORIZED), (
            response.request.method,
            response.request.url,
            response.text,
        )

    # And with valid credentials the same requests are 404 and 400
    key = world.org.key
    assert api.get(f"{BASE}/{missing}", key).status_code == 404
    assert api.get(f"{BASE}/provider/unknown-provider", key).status_code == 404
    invalid = api.post(f"{BASE}/", key, json={"dsn": 42})
    assert invalid.status_code == 400, invalid.text
    assert invalid.json()["detail"].startswith("Validation error: ")
    missing_provider = api.post(
        f"{BASE}/", key, json={"dsn": "https://x.example.com", "access_token": "missing-provider-token"}
    )
    assert (missing_provider.status_code, missing_provider.json()) == (
        400,
        {"detail": "Validation error: provider field is required"},
    )
