"""The smoke suite's own helpers (smoke): what its leak and audit checks can see."""

import base64
import json
import os

import pytest
from smoke import AUDIT_MARKER, difference, encoded_forms, parse_records

SECRET = "pat-na1-1234567890abcdef"


@pytest.mark.parametrize("prefix_length", range(6))
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_value_inside_base64_of_any_bytes_is_found(prefix_length, encode):
    # Given a value at any offset in a binary blob, then base64-encoded (either alphabet)
    blob = encode(os.urandom(prefix_length) + SECRET.encode() + os.urandom(3))
    # Then one of the value's encoded forms is in it
    assert any(form in blob for form in encoded_forms(SECRET))


def test_encoded_forms_include_plain_and_json_escaped_text():
    forms = encoded_forms('quote"and\\slash-é')
    assert 'quote"and\\slash-é'.encode() in forms
    assert json.dumps('quote"and\\slash-é')[1:-1].encode() in forms
    assert json.dumps('quote"and\\slash-é', ensure_ascii=False)[1:-1].encode() in forms


def test_audit_records_are_read_one_a_line_back_to_back_or_wrapped_and_junk_is_skipped():
    first = {"audit": AUDIT_MARKER, "action": "create", "credentials_id": "a", "status": 201}
    second = {"audit": AUDIT_MARKER, "action": "get", "credentials_id": "a", "status": 200}
    third = {"audit": AUDIT_MARKER, "action": "delete", "credentials_id": "a", "status": 200}
    other = {"level": "INFO", "message": "not an audit record"}
    text = (
        json.dumps(first)
        + json.dumps(second)
        + "\nnot json at all\n"
        + json.dumps({"timestamp": "t", "message": json.dumps(third)})
        + "\n"
        + json.dumps(other)
        + "\n"
    )
    assert list(parse_records(text)) == [first, second, third]


def test_differences_name_fields_never_values():
    message = difference(
        {"access_token": "secret-one", "dsn": "x", "extra": 1},
        {"access_token": "secret-two", "dsn": "x", "id": 2},
    )
    assert message == "fields missing: id; unexpected: extra; differ: access_token"
    assert "secret" not in message
    assert difference([{"a": "secret"}], []) == "a list of 1 item(s), expected 0"
