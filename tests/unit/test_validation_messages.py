"""How pydantic/Powertools validation errors become the seed's 400 details."""

import pytest
from integration_credentials.core.bodies.create import CredentialsCreate
from integration_credentials.core.bodies.update import CredentialsUpdate
from integration_credentials.http.messages import validation_message
from pydantic import ValidationError


def errors_for(model, body):
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    # Powertools reports body errors under ("body", <field>)
    return [{**e, "loc": ("body", *e["loc"])} for e in caught.value.errors()]


def test_missing_provider_is_the_seed_text():
    errors = errors_for(CredentialsCreate, {"dsn": "x", "access_token": "y"})
    assert validation_message(errors) == "provider field is required"


def test_every_problem_is_named_once():
    errors = errors_for(CredentialsCreate, {"provider": 1, "metadata": 2})
    assert validation_message(errors) == (
        "provider must be a string; dsn field is required; access_token field is required; metadata must be an object"
    )


def test_messages_never_echo_the_input():
    errors = errors_for(
        CredentialsCreate, {"provider": "X", "dsn": "x", "access_token": "s3cr3t", "extra": "s3cr3t"}
    )
    assert "s3cr3t" not in validation_message(errors)


def test_json_and_shape_errors():
    assert (
        validation_message([{"type": "json_invalid", "loc": ("body", 3)}]) == "request body is not valid JSON"
    )
    assert validation_message([{"type": "model_attributes_type", "loc": ("body",)}]) == (
        "request body must be a JSON object"
    )
    assert validation_message([{"type": "missing", "loc": ("body",)}]) == "request body must be a JSON object"


def test_too_long_token_names_the_limit():
    errors = errors_for(CredentialsCreate, {"provider": "custom", "dsn": "x", "access_token": "a" * 20_000})
    assert validation_message(errors) == "access_token must be at most 16384 characters"


def test_update_rejects_provider_and_explicit_nulls():
    assert (
        validation_message(errors_for(CredentialsUpdate, {"provider": "x"})) == "provider cannot be changed"
    )
    assert validation_message(errors_for(CredentialsUpdate, {"dsn": None})) == "dsn must be a string"
    assert (
        validation_message(errors_for(CredentialsUpdate, {"metadata": None})) == "metadata must be an object"
    )


def test_update_fields_are_optional():
    update = CredentialsUpdate.model_validate({"metadata": {"refresh_token": None}})
    assert update.dsn is None and update.access_token is None
    assert update.metadata == {"refresh_token": None}


@pytest.mark.parametrize(
    "provider", ["salesforce", "hubspot", "pipedrive", "zoho", "dynamics", "custom", "ms_dynamics", "my-crm2"]
)
def test_provider_ids_that_are_accepted(provider):
    assert (
        CredentialsCreate.model_validate({"provider": provider, "dsn": "x", "access_token": "y"}).provider
        == provider
    )


@pytest.mark.parametrize(
    "provider", ["", "Salesforce", "2crm", "sales force", "a/b", "a#b", "é", "a" * 65, "-x"]
)
def test_provider_ids_that_are_rejected(provider):
    errors = errors_for(CredentialsCreate, {"provider": provider, "dsn": "x", "access_token": "y"})
    assert validation_message(errors).startswith("provider must be a lowercase identifier")


def test_a_field_name_made_of_request_data_is_not_echoed():
    secret_key = '{"access_token": "s3cr3t"}'
    errors = [
        {"type": "extra_forbidden", "loc": ("body", secret_key)},
        {"type": "missing", "loc": ("body", "dsn")},
    ]
    message = validation_message(errors)
    assert message == "request body has a field that is not allowed; dsn field is required"
    assert "s3cr3t" not in message
