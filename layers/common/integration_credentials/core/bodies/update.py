"""Body of `PUT /integration-credentials/{id}`."""

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic_core import PydanticCustomError

from . import AccessToken, Dsn, Metadata, optional_field


class CredentialsUpdate(BaseModel):
    """Body of `PUT /integration-credentials/{id}`: every field optional, `metadata` a merge patch."""

    # The JSON schema says what the service accepts: at least one field, none of them null.
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"minProperties": 1})

    dsn: Dsn | None = optional_field()
    access_token: AccessToken | None = optional_field()
    metadata: Metadata | None = optional_field()

    @field_validator("dsn", "access_token", "metadata", mode="before")
    @classmethod
    def _null_is_not_absent(cls, value: Any, info: Any) -> Any:
        # Runs only for fields present in the body: an explicit null cannot remove a required field.
        if value is None:
            expected = "dict_type" if info.field_name == "metadata" else "string_type"
            raise PydanticCustomError(expected, "null is not allowed")
        return value
