"""Optimistic concurrency (ETag / If-Match) and list pagination (limit / cursor / Link)."""

import re
import uuid
from urllib.parse import parse_qs, urlparse

import pytest

from tests.conftest import SEED_BODIES


def test_single_object_responses_carry_the_row_version_as_etag(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"])
    assert created.headers["ETag"] == '"1"'
    credentials_id = created.json["id"]
    assert api.get(org_headers, credentials_id).headers["ETag"] == '"1"'
    assert api.get_by_provider(org_headers, "salesforce").headers["ETag"] == '"1"'
    updated = api.update(org_headers, credentials_id, {"access_token": "new"})
    assert updated.headers["ETag"] == '"2"'
    assert api.get(org_headers, credentials_id).headers["ETag"] == '"2"'


@pytest.mark.parametrize("if_match", ['"1"', "*", '"7", "1"'])
def test_put_with_a_current_if_match_updates(api, org_headers, if_match):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    reply = api.update(
        org_headers, created["id"], {"access_token": "new"}, headers_extra={"If-Match": if_match}
    )
    assert reply.status == 200
    assert reply.json["access_token"] == "new"


@pytest.mark.parametrize("if_match", ['"2"', 'W/"1"', '"0"', '"7", "8"'])
def test_put_with_a_stale_if_match_is_412_and_changes_nothing(api, org_headers, if_match):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    reply = api.update(
        org_headers, created["id"], {"access_token": "new"}, headers_extra={"If-Match": if_match}
    )
    assert reply.status == 412
    assert reply.json["detail"].startswith("Precondition failed")
    assert reply.headers["ETag"] == '"1"'
    assert api.get(org_headers, created["id"]).json == created


def test_an_empty_if_match_is_no_precondition(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    reply = api.update(org_headers, created["id"], {"access_token": "new"}, headers_extra={"If-Match": ""})
    assert (reply.status, reply.json["access_token"]) == (200, "new")


@pytest.mark.parametrize("if_match", ["1", '"unterminated', "**", "abc"])
def test_a_malformed_if_match_is_400_and_changes_nothing(api, org_headers, if_match):
    created = api.create(org_headers, SEED_BODIES["hubspot"]).json
    for reply in (
        api.update(org_headers, created["id"], {"access_token": "new"}, headers_extra={"If-Match": if_match}),
        api.call(
            "delete_credentials",
            headers={**org_headers, "If-Match": if_match},
            path_parameters={"credentials_id": created["id"]},
        ),
    ):
        assert (reply.status, reply.json) == (
            400,
            {"detail": 'Validation error: If-Match must be * or a list of ETags (such as "3")'},
        )
    assert api.get(org_headers, created["id"]).json == created


def test_lost_update_is_prevented_between_two_clients(api, org_headers):
    # Given two clients that read the same version
    created = api.create(org_headers, SEED_BODIES["salesforce"])
    etag = created.headers["ETag"]
    credentials_id = created.json["id"]
    # When the first writes with If-Match, then the second with the same (now stale) ETag
    first = api.update(
        org_headers, credentials_id, {"access_token": "first"}, headers_extra={"If-Match": etag}
    )
    second = api.update(
        org_headers, credentials_id, {"access_token": "second"}, headers_extra={"If-Match": etag}
    )
    # Then the second is refused and the first one's write stands
    assert (first.status, second.status) == (200, 412)
    assert second.headers["ETag"] == first.headers["ETag"]
    assert api.get(org_headers, credentials_id).json["access_token"] == "first"


def test_delete_honours_if_match(api, org_headers):
    created = api.create(org_headers, SEED_BODIES["pipedrive"])
    credentials_id = created.json["id"]
    api.update(org_headers, credentials_id, {"dsn": "https://other.pipedrive.com"})
    stale = api.call(
        "delete_credentials",
        headers={**org_headers, "If-Match": created.headers["ETag"]},
        path_parameters={"credentials_id": credentials_id},
    )
    assert stale.status == 412
    assert api.get(org_headers, credentials_id).status == 200
    current = api.call(
        "delete_credentials",
        headers={**org_headers, "If-Match": '"2"'},
        path_parameters={"credentials_id": credentials_id},
    )
    assert current.status == 200
    assert api.get(org_headers, credentials_id).status == 404


def test_if_match_on_another_orgs_id_is_still_403(api, org_headers, other_org_headers):
    created = api.create(org_headers, SEED_BODIES["pipedrive"]).json
    reply = api.update(other_org_headers, created["id"], {"dsn": "x"}, headers_extra={"If-Match": "*"})
    assert reply.status == 403


def providers(n):
    return [f"crm{i:03d}" for i in range(n)]


@pytest.fixture
def org_with_seven(api, org_headers):
    for provider in providers(7):
        assert (
            api.create(
                org_headers, {"provider": provider, "dsn": "x", "access_token": "t-" + provider}
            ).status
            == 201
        )
    return org_headers


def next_link(reply):
    link = reply.headers.get("Link")
    if link is None:
        return None
    match = re.fullmatch(r'<([^>]+)>; rel="next"', link)
    assert match, link
    return match.group(1)


def test_pages_walk_every_credential_once_in_order(api, org_with_seven):
    seen = []
    query = {"limit": "3"}
    pages = 0
    while True:
        reply = api.list(org_with_seven, query=query)
        assert reply.status == 200
        assert isinstance(reply.json, list) and len(reply.json) <= 3
        seen += [item["provider"] for item in reply.json]
        pages += 1
        link = next_link(reply)
        if link is None:
            break
        parsed = urlparse(link)
        assert parsed.path == "/integration-credentials/"
        query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    assert seen == providers(7)
    assert pages == 3


def test_an_exact_last_page_announces_no_next(api, org_headers):
    for provider in providers(3):
        api.create(org_headers, {"provider": provider, "dsn": "x", "access_token": "t"})
    reply = api.list(org_headers, query={"limit": "3"})
    assert len(reply.json) == 3
    assert "Link" not in reply.headers


def test_without_limit_the_whole_list_and_no_link(api, org_with_seven):
    reply = api.list(org_with_seven)
    assert [item["provider"] for item in reply.json] == providers(7)
    assert "Link" not in reply.headers


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ({"limit": "0"}, "Validation error: limit must be at least 1"),
        ({"limit": "101"}, "Validation error: limit must be at most 100"),
        ({"limit": "ten"}, "Validation error: limit must be an integer"),
        ({"cursor": "Not a cursor"}, "Validation error: cursor is not valid"),
        (
            {"cursor": "0" * 400},
            "Validation error: cursor is not valid",
        ),  # {"after": "../etc"}
    ],
)
def test_bad_limit_or_cursor_is_400(api, org_headers, query, detail):
    reply = api.list(org_headers, query=query)
    assert (reply.status, reply.json) == (400, {"detail": detail})


def test_a_cursor_cannot_reach_another_org(api, org_with_seven, other_org_headers):
    first = api.list(org_with_seven, query={"limit": "2"})
    cursor = parse_qs(urlparse(next_link(first)).query)["cursor"][0]
    reply = api.list(other_org_headers, query={"limit": "2", "cursor": cursor})
    assert (reply.status, reply.json) == (200, [])


def test_ids_stay_unique_across_pages(api, org_with_seven):
    ids = [item["id"] for item in api.list(org_with_seven).json]
    assert len(set(ids)) == 7
    assert all(uuid.UUID(i).version == 4 for i in ids)
