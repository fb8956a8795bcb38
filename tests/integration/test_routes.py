"""The seed contract, route by route, on the real handlers and embedded AWS."""

import json
import uuid

import pytest

from tests.conftest import SEED_BODIES

UNAUTHORIZED = {"detail": "Invalid or missing authentication credentials"}
FORBIDDEN = {"detail": "You do not have permission to access this resource"}
MAX_BODY_BYTES = 64 * 1024  # the default MAX_BODY_BYTES


def is_uuid4(value: str) -> bool:
    return uuid.UUID(value).version == 4 and str(uuid.UUID(value)) == value


@pytest.mark.parametrize("provider", ["salesforce", "hubspot", "pipedrive"])
def test_seed_examples_are_stored_and_read_back(api, org_headers, org_id, provider):
    # Given the seed's example body for the provider
    body = SEED_BODIES[provider]
    # When it is stored
    created = api.create(org_headers, body)
    # Then it is 201 with a generated id, the seed's fields in the seed's order, then the token
    # refresh and connection health fields (a backward-compatible extension)
    assert created.status == 201
    payload = created.json
    assert list(payload) == [
        "id", "org_id", "provider", "dsn", "access_token", "metadata", "created_at", "updated_at",
        "status", "expires_at", "last_refreshed_at", "last_error", "account", "verified_at",
    ]  # fmt: skip
    assert payload["status"] == "active"
    assert payload["last_refreshed_at"] is None and payload["last_error"] is None
    # A create without ?verify has not asked the CRM: no account, no verification yet
    assert payload["account"] is None and payload["verified_at"] is None
    assert is_uuid4(payload["id"])
    assert payload["org_id"] == org_id
    assert {k: payload[k] for k in ("provider", "dsn", "access_token", "metadata")} == body
    assert payload["created_at"] == payload["updated_at"]
    assert payload["created_at"].endswith("Z")
    # And every read route returns the same object
    assert api.get_by_provider(org_headers, provider).json == payload
    assert api.get(org_headers, payload["id"]).json == payload
    assert api.list(org_headers).json == [payload]


def test_metadata_defaults_to_empty_object(api, org_headers):
    created = api.create(org_headers, {"provider": "custom", "dsn": "postgres://crm", "access_token": "t"})
    assert created.status == 201
    assert created.json["metadata"] == {}


def test_metadata_round_trips_exactly(api, org_headers):
    # Given metadata with every JSON shape
    metadata = {
        "nested": {"deeper": {"list": [1, "two", None, True, {"x": []}]}},
        "null": None,
        "flags": [True, False],
        "floats": [0.1, 1e-7, -2.5e300, 3.0],
        "big": 2**70,
        "negative_big": -(2**65),
        "unicode": 'Zoë 東京 🚀 \u0000 "quotes" \\ backslash',
        "empty": {},
    }
    created = api.create(
        org_headers,
        {
            "provider": "zoho",
            "dsn": "https://accounts.zoho.eu",
            "access_token": "1000.x",
            "metadata": metadata,
        },
    )
    assert created.status == 201
    # When it is read back, Then it is identical, types included
    read = api.get_by_provider(org_headers, "zoho").json["metadata"]
    assert read == metadata
    assert isinstance(read["floats"][3], float) and isinstance(read["big"], int)


def test_list_is_only_the_callers_org_with_and_without_trailing_slash(api, org_headers, other_org_headers):
    for provider in ("salesforce", "hubspot"):
        assert api.create(org_headers, SEED_BODIES[provider]).status == 201
    assert api.create(other_org_headers, SEED_BODIES["pipedrive"]).status == 201
    for path in ("/integration-credentials/", "/integration-credentials"):
        listed = api.list(org_headers, raw_path=path)
        assert listed.status == 200
        assert sorted(item["provider"] for item in listed.json) == ["hubspot", "salesforce"]
    assert [item["provider"] for item in api.list(other_org_headers).json] == ["pipedrive"]


def test_list_of_an_org_without_credentials_is_an_empty_array(api, org_headers):
    listed = api.list(org_headers)
    assert (listed.status, listed.json) == (200, [])


def test_create_without_trailing_slash(api, org_headers):
    assert api.create(org_headers, SEED_BODIES["hubspot"], raw_path="/integration-credentials").status == 201


def test_duplicate_provider_is_409_and_keeps_the_first(api, org_headers):
    first = api.create(org_headers, SEED_BODIES["salesforce"]).json
    second = api.create(org_headers, {**SEED_BODIES["salesforce"], "access_token": "other"})
    assert second.status == 409
    assert second.json == {"detail": "Integration credentials for provider 'salesforce' already exist"}
    assert api.get_by_provider(org_headers, "salesforce").json == first


def test_same_provider_in_two_orgs_is_allowed(api, org_headers, other_org_headers):
    assert api.create(org_headers, SEED_BODIES["salesforce"]).status == 201
    assert api.create(other_org_headers, SEED_BODIES["salesforce"]).status == 201


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"dsn": "x", "access_token": "y"}, "Validation error: provider field is required"),
        ({"provider": "hubspot", "access_token": "y"}, "Validation error: dsn field is required"),
        ({"provider": "hubspot", "dsn": "x"}, "Validation error: access_token field is required"),
        ({"provider": 7, "dsn": "x", "access_token": "y"}, "Validation error: provider must be a string"),
        ({"provider": "hubspot", "dsn": "", "access_token": "y"}, "Validation error: dsn must not be empty"),
        ({"provider": "hubspot", "dsn": "x", "access_token": "   "}, "Validation error: access_token must not be empty"),
        ({"provider": "hubspot", "dsn": "x", "access_token": "y", "metadata": []},
         "Validation error: metadata must be an object"),
        ({"provider": "hubspot", "dsn": "x", "access_token": "y", "metadata": "{}"},
         "Validation error: metadata must be an object"),
        ({"provider": "hubspot", "dsn": "x", "access_token": "y", "metadata": None},
         "Validation error: metadata must be an object"),
        ({"provider": "HubSpot", "dsn": "x", "access_token": "y"},
         "Validation error: provider must be a lowercase identifier (a-z first, then a-z, 0-9, '_' or '-', at most 64)"),
        ({"provider": "../etc", "dsn": "x", "access_token": "y"},
         "Validation error: provider must be a lowercase identifier (a-z first, then a-z, 0-9, '_' or '-', at most 64)"),
        ({"provider": "hubspot", "dsn": "x", "access_token": "y", "org_id": "someone-else"},
         "Validation error: org_id field is not allowed"),
        ([], "Validation error: request body must be a JSON object"),
        (None, "Validation error: request body must be a JSON object"),
        ("text", "Validation error: request body must be a JSON object"),
    ],
)  # fmt: skip
def test_bad_bodies_are_400_naming_the_problem(api, org_headers, body, detail):
    reply = api.create(org_headers, None, raw_body=__import__("json").dumps(body))
    assert reply.status == 400
    assert reply.json == {"detail": detail}
    assert api.list(org_headers).json == []


@pytest.mark.parametrize("raw", ["{bad json", "", '{"provider": "hubspot",}'])
def test_unparseable_bodies_are_400(api, org_headers, raw):
    reply = api.create(org_headers, None, raw_body=raw)
    assert reply.status == 400
    assert reply.json["detail"].startswith("Validation error: ")


def test_body_over_the_limit_is_413_and_writes_nothing(api, org_headers):
    body = {**SEED_BODIES["hubspot"], "metadata": {"blob": "x" * 70_000}}
    reply = api.create(org_headers, body)
    assert reply.status == 413
    assert "limit" in reply.json["detail"]
    assert api.get_by_provider(org_headers, "hubspot").status == 404


def test_a_body_just_under_the_limit_is_stored_and_an_update_over_it_is_413_and_changes_nothing(
    api, org_headers
):
    # Given credentials stored with a body just under the 64 KiB cap
    body = {**SEED_BODIES["hubspot"], "metadata": {"blob": "y" * (MAX_BODY_BYTES - 1024)}}
    assert len(json.dumps(body).encode()) < MAX_BODY_BYTES
    created = api.create(org_headers, body)
    assert created.status == 201 and created.json["metadata"] == body["metadata"]
    # When an update over the cap is sent
    update = {"access_token": "oversized-update-token", "metadata": {"z": "z" * MAX_BODY_BYTES}}
    reply = api.update(org_headers, created.json["id"], update)
    # Then it is 413 with a detail, and the stored credentials are unchanged
    assert reply.status == 413 and reply.json["detail"]
    assert api.get(org_headers, created.json["id"]).json == created.json


def test_get_by_provider_not_found_uses_the_seed_text(api, org_headers):
    reply = api.get_by_provider(org_headers, "salesforce")
    assert (reply.status, reply.json) == (
        404,
        {"detail": "Integration credentials for provider 'salesforce' not found"},
    )


def test_get_by_provider_rejects_a_provider_that_cannot_exist(api, org_headers):
    reply = api.get_by_provider(org_headers, "Sales Force")
    assert reply.status == 400
    assert reply.json["detail"].startswith("Validation error: provider must be a lowercase identifier")


@pytest.mark.parametrize("function", ["get_credentials", "update_credentials", "delete_credentials"])
def test_by_id_routes_not_found(api, org_headers, function):
    missing = str(uuid.uuid4())
    reply = api.call(
        function, headers=org_headers, path_parameters={"credentials_id": missing}, body={"access_token": "x"}
    )
    assert (reply.status, reply.json) == (404, {"detail": f"Integration credentials {missing} not found"})


@pytest.mark.parametrize("function", ["get_credentials", "update_credentials", "delete_credentials"])
@pytest.mark.parametrize("bad_id", ["not-a-uuid", "8e1f9722-9637-62fg-d059-g29he3h12cg9", "1"])
def test_ids_that_are_not_uuids_are_a_clean_404(api, org_headers, function, bad_id):
    reply = api.call(
        function, headers=org_headers, path_parameters={"credentials_id": bad_id}, body={"dsn": "x"}
    )
    assert (reply.status, reply.json) == (404, {"detail": f"Integration credentials {bad_id} not found"})


def test_seed_token_rotation_keeps_unmentioned_metadata(api, org_headers):
    # Given the seed's Salesforce credentials
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    # When the seed's PUT rotates the tokens
    updated = api.update(
        org_headers,
        created["id"],
        {"access_token": "NEW_ACCESS_TOKEN_HERE", "metadata": {"refresh_token": "NEW_REFRESH_TOKEN"}},
    )
    # Then the new tokens are stored and instance_url (read next by the sync script) is kept
    assert updated.status == 200
    read = api.get_by_provider(org_headers, "salesforce").json
    assert read == updated.json
    assert read["access_token"] == "NEW_ACCESS_TOKEN_HERE"
    assert read["metadata"] == {**SEED_BODIES["salesforce"]["metadata"], "refresh_token": "NEW_REFRESH_TOKEN"}
    assert read["dsn"] == created["dsn"]
    assert read["created_at"] == created["created_at"]
    assert read["updated_at"] > created["updated_at"]


def test_update_metadata_is_a_merge_patch(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    updated = api.update(
        org_headers, created["id"], {"metadata": {"portal_id": None, "region": {"dc": "eu1"}}}
    )
    assert updated.json["metadata"] == {"scopes": ["contacts", "companies", "deals"], "region": {"dc": "eu1"}}
    assert updated.json["access_token"] == created["access_token"]


def test_each_update_advances_updated_at(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    stamps = [created["updated_at"]]
    for n in range(3):
        stamps.append(
            api.update(org_headers, created["id"], {"dsn": f"https://api{n}.hubapi.com"}).json["updated_at"]
        )
    assert stamps == sorted(set(stamps))


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"provider": "hubspot"}, "Validation error: provider cannot be changed"),
        ({"access_token": ""}, "Validation error: access_token must not be empty"),
        ({"access_token": None}, "Validation error: access_token must be a string"),
        ({"metadata": ["x"]}, "Validation error: metadata must be an object"),
        ({"metadata": None}, "Validation error: metadata must be an object"),
        ({"dsn": None}, "Validation error: dsn must be a string"),
        ({"id": str(uuid.uuid4())}, "Validation error: id field is not allowed"),
        ({}, "Validation error: at least one of dsn, access_token, metadata is required"),
    ],
)
def test_bad_update_bodies_are_400_and_change_nothing(api, org_headers, body, detail):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    reply = api.update(org_headers, created["id"], body)
    assert (reply.status, reply.json) == (400, {"detail": detail})
    assert api.get(org_headers, created["id"]).json == created


def test_delete_then_the_provider_can_be_created_again(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["pipedrive"]).json
    deleted = api.delete(org_headers, created["id"])
    assert deleted.status == 200
    assert deleted.json == {"message": f"Integration credentials {created['id']} deleted successfully"}
    assert api.get(org_headers, created["id"]).status == 404
    assert api.get_by_provider(org_headers, "pipedrive").status == 404
    assert api.delete(org_headers, created["id"]).status == 404
    again = api.create(org_headers, SEED_BODIES["pipedrive"])
    assert again.status == 201
    assert again.json["id"] != created["id"]
    # The old id stays gone: it never resolves to the new row.
    assert api.get(org_headers, created["id"]).status == 404


@pytest.mark.parametrize("function", ["get_credentials", "update_credentials", "delete_credentials"])
def test_another_orgs_id_is_403_and_nothing_changes(api, org_headers, other_org_headers, function):
    # Given org A's credentials
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    # When org B uses their id
    reply = api.call(
        function,
        headers=other_org_headers,
        path_parameters={"credentials_id": created["id"]},
        body={"access_token": "stolen", "metadata": {"instance_url": "https://evil.example"}},
    )
    # Then it is forbidden and org A's row is untouched
    assert (reply.status, reply.json) == (403, FORBIDDEN)
    assert api.get(org_headers, created["id"]).json == created


def test_another_orgs_provider_is_invisible(api, org_headers, other_org_headers):
    api.create(org_headers, SEED_BODIES["salesforce"])
    assert api.get_by_provider(other_org_headers, "salesforce").status == 404
    assert api.list(other_org_headers).json == []


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "application/xml"],
)
@pytest.mark.parametrize("route", ["create", "update"])
def test_non_json_content_type_is_415_and_never_echoes_the_body(api, org_headers, content_type, route):
    # Given a JSON body sent with another content type (curl -d without -H sends a form type)
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    body = {**SEED_BODIES["salesforce"], "access_token": "TOKEN-NOT-TO-ECHO"}
    if route == "create":
        reply = api.create(org_headers, body, content_type=content_type)
    else:
        reply = api.update(
            org_headers, created["id"], {"access_token": "TOKEN-NOT-TO-ECHO"}, content_type=content_type
        )
    # Then it is a 415 that says what to send, and the token is not in it
    assert (reply.status, reply.json) == (415, {"detail": "Content-Type must be application/json"})
    assert "TOKEN-NOT-TO-ECHO" not in reply.raw
    assert api.get(org_headers, created["id"]).json == created


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "application/json"])
def test_json_content_types_with_parameters_are_accepted(api, org_headers, content_type):
    assert api.create(org_headers, SEED_BODIES["hubspot"], content_type=content_type).status == 201


@pytest.mark.parametrize(
    ("function", "path", "body"),
    [
        ("list_credentials", "/integration-credentials/oauth/other", None),
        ("create_credentials", "/integration-credentials/a/b", SEED_BODIES["hubspot"]),
    ],
)
def test_a_path_only_the_greedy_collection_routes_catch_is_404(api, org_headers, function, path, body):
    # GET/POST /integration-credentials/{proxy+} catch the seed's trailing slash, and with it every
    # deeper path no other route has: the function's resolver knows only its endpoint's.
    reply = api.call(function, headers=org_headers, raw_path=path, body=body)
    assert (reply.status, reply.json) == (404, {"detail": "Not found"})
    assert api.list(org_headers).json == []
