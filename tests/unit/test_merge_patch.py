"""JSON Merge Patch (RFC 7396) as the PUT route applies it to `metadata`."""

import pytest
from integration_credentials.policy.merge_patch import merge_patch

# RFC 7396, Appendix A (the cases that apply to an object target).
RFC_EXAMPLES = [
    ({"a": "b"}, {"a": "c"}, {"a": "c"}),
    ({"a": "b"}, {"b": "c"}, {"a": "b", "b": "c"}),
    ({"a": "b"}, {"a": None}, {}),
    ({"a": "b", "b": "c"}, {"a": None}, {"b": "c"}),
    ({"a": ["b"]}, {"a": "c"}, {"a": "c"}),
    ({"a": "c"}, {"a": ["b"]}, {"a": ["b"]}),
    ({"a": {"b": "c"}}, {"a": {"b": "d", "c": None}}, {"a": {"b": "d"}}),
    ({"a": [{"b": "c"}]}, {"a": [1]}, {"a": [1]}),
    ({"e": None}, {"a": 1}, {"e": None, "a": 1}),
    ({}, {"a": {"bb": {"ccc": None}}}, {"a": {"bb": {}}}),
]


@pytest.mark.parametrize(("target", "patch", "expected"), RFC_EXAMPLES)
def test_rfc7396_examples(target, patch, expected):
    assert merge_patch(target, patch) == expected


def test_token_rotation_keeps_unmentioned_keys():
    # Given the seed's Salesforce metadata
    stored = {
        "instance_url": "https://mycompany.salesforce.com",
        "api_version": "v58.0",
        "refresh_token": "old",
    }
    # When the seed's PUT rotates only the refresh token
    result = merge_patch(stored, {"refresh_token": "NEW_REFRESH_TOKEN"})
    # Then instance_url (read by the seed's sync script) is still there
    assert result == {**stored, "refresh_token": "NEW_REFRESH_TOKEN"}


def test_patch_does_not_mutate_the_stored_object():
    stored = {"a": {"b": 1}}
    merge_patch(stored, {"a": {"b": None}})
    assert stored == {"a": {"b": 1}}
