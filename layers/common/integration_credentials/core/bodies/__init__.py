"""The request bodies (pydantic models), one module each, so a function builds only the body it
validates (building a model's validator is most of its import); here the field rules they share.
"""

from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints
from pydantic.config import JsonDict
from pydantic_core import PydanticCustomError

from ..constants import MAX_ACCESS_TOKEN_CHARS, MAX_DSN_CHARS, PROVIDER_PATTERN
from ..validation import metadata_problem, text_problem


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _rule_error(problem: str) -> PydanticCustomError:
    # `json_rule`: the message is the problem, already naming the field (api.validation_message).
    return PydanticCustomError("json_rule", "{problem}", {"problem": problem})


def utf8_text(value: str, info: Any) -> str:
    """An `AfterValidator`: the field's text within `validation.text_problem`'s rules."""
    problem = text_problem(value, str(info.field_name))
    if problem is not None:
        raise _rule_error(problem)
    return value


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    problem = metadata_problem(value)
    if problem is not None:
        raise _rule_error(problem)
    return value


# The JSON schema (OpenAPI) of `_not_blank`: one character that str.strip() does not remove.
_NOT_BLANK_SCHEMA = Field(
    json_schema_extra={
        "pattern": r"[^\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    }
)


def absent_means_unchanged(schema: JsonDict) -> None:
    """`json_schema_extra` of an optional field a client may omit but not send as null."""
    # JSON schema only: `None` is the value of an absent field, not one a client may send
    # (`_null_is_not_absent` rejects it), so the schema has neither a null branch nor a default.
    schema.pop("default", None)
    branches = schema.pop("anyOf", None)
    if isinstance(branches, list):
        others = [branch for branch in branches if branch != {"type": "null"}]
        if len(others) == 1 and isinstance(others[0], dict):
            schema.update(others[0])
        else:
            schema["anyOf"] = others


def optional_field() -> Any:
    """An optional field: absent means unchanged (its schema has no null branch)."""
    return Field(default=None, json_schema_extra=absent_means_unchanged)


ProviderId = Annotated[str, StringConstraints(pattern=PROVIDER_PATTERN)]
# A secret text: 1 to `max_chars` characters, not blank, valid UTF-8.
_SECRET_TEXT = (AfterValidator(_not_blank), AfterValidator(utf8_text), _NOT_BLANK_SCHEMA)
Dsn = Annotated[str, StringConstraints(min_length=1, max_length=MAX_DSN_CHARS), *_SECRET_TEXT]
AccessToken = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_ACCESS_TOKEN_CHARS), *_SECRET_TEXT
]
# Any JSON object, within the bounds of `validation` (depth, keys, finite numbers, UTF-8).
Metadata = Annotated[dict[str, Any], AfterValidator(_storable_metadata)]
