"""The restricted view of a credentials object: generated metadata with secrets hidden anywhere."""

import json

from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.policy.disclosure import is_secret_key, restricted_view, without_secrets

SECRET_NAMES = [
    "refresh_token",
    "client_secret",
    "api_token",
    "password",
    "apiKey",
    "API-KEY",
    "private_key",
    "id_token",
    "ClientSecret",
    "db_password",
]
PLAIN_NAMES = ["instance_url", "api_domain", "region", "scope", "expires_at", "tenant_id", "client_id"]

SECRET_VALUE = "S3CR3T-VALUE-never-shown"
plain_keys = st.sampled_from(PLAIN_NAMES) | st.text(
    alphabet="abcdefghijklmnopqrsuvwxyz_", min_size=1, max_size=8
)
leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=5)
json_values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(plain_keys, children, max_size=3),
    max_leaves=12,
)


@st.composite
def metadata_with_hidden_secrets(draw: st.DrawFn) -> dict:
    """Plain metadata with a secret-named key holding SECRET_VALUE planted at a random depth."""
    metadata = draw(st.dictionaries(plain_keys, json_values, max_size=4))
    path = draw(st.lists(plain_keys, max_size=3))
    node = metadata
    for name in path:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[draw(st.sampled_from(SECRET_NAMES))] = draw(st.just(SECRET_VALUE) | st.just({"x": SECRET_VALUE}))
    return metadata


BODY = {
    "id": "8e1f5a8c-4d1b-4c1e-9d7a-0f6c2b3a4d5e",
    "org_id": "acme",
    "provider": "salesforce",
    "dsn": "https://acme.my.salesforce.com",
    "access_token": "AT-stored",
    "metadata": {"refresh_token": "RT-stored", "instance_url": "https://acme.my.salesforce.com"},
    "created_at": "2024-01-01T00:00:00.000000Z",
    "updated_at": "2024-01-01T00:00:00.000000Z",
    "status": "active",
    "expires_at": None,
    "last_refreshed_at": None,
    "last_error": None,
    "account": {"id": "00D000000000001AAA", "user": "005000000000001AAA"},
    "verified_at": "2024-01-01T00:00:00.000000Z",
}


@given(metadata_with_hidden_secrets())
def test_no_secret_named_key_survives_at_any_depth(metadata: dict) -> None:
    view = restricted_view(BODY, sent_access_token=True, sent_metadata=metadata)
    assert SECRET_VALUE not in json.dumps(view)
    assert "RT-stored" not in json.dumps(view)


@given(st.dictionaries(st.sampled_from(PLAIN_NAMES), json_values, max_size=5))
def test_plain_metadata_that_was_sent_is_echoed(metadata: dict) -> None:
    view = restricted_view(BODY, sent_metadata=metadata)
    sent = {key: value for key, value in metadata.items() if value is not None}
    assert set(view["metadata"]) == set(sent)


def test_the_stored_token_is_shown_only_when_sent_or_refreshed() -> None:
    assert "access_token" not in restricted_view(BODY)
    assert restricted_view(BODY, sent_access_token=True)["access_token"] == "AT-stored"
    assert restricted_view(BODY, new_access_token=True)["access_token"] == "AT-stored"
    assert restricted_view(BODY)["metadata"] == {}


def test_secret_names() -> None:
    assert all(is_secret_key(name) for name in SECRET_NAMES)
    assert not any(is_secret_key(name) for name in PLAIN_NAMES)
    assert without_secrets([{"password": 1, "a": [{"token": 2, "b": 3}]}]) == [{"a": [{"b": 3}]}]


def test_the_crm_account_and_verification_time_are_shown_to_every_caller() -> None:
    # The account a token belongs to is no secret: a write-only key sees which CRM org it wrote to
    view = restricted_view(BODY)
    assert view["account"] == BODY["account"]
    assert view["verified_at"] == BODY["verified_at"]
