"""Organisations never see or touch each other's credentials, on any route."""

from collections.abc import Callable

from .conftest import BASE, FORBIDDEN, SEED_EXAMPLES, Api, Org


def test_another_org_cannot_read_change_or_delete_credentials(api: Api, make_org: Callable[..., Org]) -> None:
    # Given org A's Salesforce credentials, and org B with an API key and a JWT
    org_a = make_org()
    org_b = make_org()
    created = api.create(org_a.key, SEED_EXAMPLES["salesforce"])
    path = f"{BASE}/{created['id']}"

    for b_headers in (org_b.key, org_b.bearer):
        # When org B reads, updates or deletes A's credentials by id
        attempts = {
            "GET": api.get(path, b_headers),
            "PUT": api.put(
                path, b_headers, json={"access_token": "stolen-token-from-org-b", "metadata": {"x": None}}
            ),
            "DELETE": api.delete(path, b_headers),
        }
        # Then each is 403 with the seed's text (and no credential data)
        for method, response in attempts.items():
            assert (response.status_code, response.json()) == (403, FORBIDDEN), (method, response.text)
            assert created["access_token"] not in response.text

    # And A's credentials are exactly as they were
    after = api.get(path, org_a.key)
    assert after.status_code == 200, after.text
    assert after.json() == created
    assert after.json()["access_token"] == created["access_token"]
    assert after.json()["updated_at"] == created["updated_at"]

    # And B's list does not include them, and B has no Salesforce credentials
    for b_headers in (org_b.key, org_b.bearer):
        for list_path in (BASE, f"{BASE}/"):
            listing = api.get(list_path, b_headers)
            assert (listing.status_code, listing.json()) == (200, [])
        by_provider = api.get(f"{BASE}/provider/salesforce", b_headers)
        assert (by_provider.status_code, by_provider.json()) == (
            404,
            {"detail": "Integration credentials for provider 'salesforce' not found"},
        )


def test_uniqueness_is_per_org(api: Api, make_org: Callable[..., Org]) -> None:
    # Given org A's Salesforce credentials
    org_a = make_org()
    org_b = make_org(with_key=False)
    created_a = api.create(org_a.key, SEED_EXAMPLES["salesforce"])

    # When org B stores its own Salesforce credentials
    body_b = {**SEED_EXAMPLES["salesforce"], "access_token": f"org-b-token-{org_b.org_id}"}
    created_b = api.create(org_b.bearer, body_b)

    # Then each org reads its own
    assert created_b["id"] != created_a["id"]
    assert created_b["org_id"] == org_b.org_id
    assert api.get(f"{BASE}/provider/salesforce", org_a.key).json() == created_a
    assert api.get(f"{BASE}/provider/salesforce", org_b.bearer).json() == created_b
    assert api.get(BASE, org_a.key).json() == [created_a]
    assert api.get(BASE, org_b.bearer).json() == [created_b]
