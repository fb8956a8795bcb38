"""Request validation errors as one readable sentence per problem, naming the field and never
echoing the input (pydantic's error `input` holds the whole body, tokens included)."""

import re
from typing import Any

_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_FIELD_MESSAGES = {
    "missing": "{field} field is required",
    "string_type": "{field} must be a string",
    "string_too_short": "{field} must not be empty",
    "string_too_long": "{field} must be at most {max_length} characters",
    "string_pattern_mismatch": (
        "{field} must be a lowercase identifier (a-z first, then a-z, 0-9, '_' or '-', at most 64)"
    ),
    "dict_type": "{field} must be an object",
    "extra_forbidden": "{field} field is not allowed",
    "uuid_parsing": "{field} must be a UUID",
    "uuid_type": "{field} must be a UUID",
    "int_parsing": "{field} must be an integer",
    "int_type": "{field} must be an integer",
    "bool_type": "{field} must be true or false",
    "bool_parsing": "{field} must be true or false",
    "greater_than_equal": "{field} must be at least {ge}",
    "less_than_equal": "{field} must be at most {le}",
}


# Patterns that are not the provider id's, by parameter.
_PATTERN_MESSAGES = {
    "cursor": "cursor is not valid",
    "if-match": 'If-Match must be * or a list of ETags (such as "3")',
    "idempotency-key": "idempotency-key must be printable ASCII without spaces (at most 255)",
    "verify": "verify must be true or false",
    "revoke": "revoke must be true or false",
}


def validation_message(errors: list[dict[str, Any]]) -> str:
    """One readable sentence per problem, naming the field (never echoing the input)."""
    messages: list[str] = []
    for error in errors:
        kind = str(error.get("type", ""))
        location = [str(part) for part in error.get("loc", ()) if not isinstance(part, int)]
        field = location[-1] if len(location) > 1 else ""
        if field and not _FIELD_NAME.fullmatch(field):
            # Only name fields that look like fields: a key made of request data is not echoed.
            field, kind = "request body", "unknown_field" if kind == "extra_forbidden" else kind
        if kind == "json_rule":
            message = str((error.get("ctx") or {}).get("problem", "request body is invalid"))
        elif kind == "json_invalid":
            message = "request body is not valid JSON"
        elif not field or kind in {"model_attributes_type", "model_type"}:
            message = "request body must be a JSON object"
        elif kind == "unknown_field":
            message = "request body has a field that is not allowed"
        elif kind == "value_error":
            message = f"{field} must not be empty"
        elif kind == "extra_forbidden" and field == "provider":
            message = "provider cannot be changed"
        elif kind == "string_pattern_mismatch" and field in _PATTERN_MESSAGES:
            message = _PATTERN_MESSAGES[field]
        elif kind in _FIELD_MESSAGES:
            message = _FIELD_MESSAGES[kind].format(field=field, **(error.get("ctx") or {}))
        else:
            message = f"{field} is invalid"
        if message not in messages:
            messages.append(message)
    return "; ".join(messages)
