"""What a request body may hold, beyond its schema: JSON that every consumer reads back exactly.

Python's `json` accepts more than JSON (`NaN`, `Infinity`, `1e400` as infinity), gives up on
integer literals over 4,300 digits and on nesting past the recursion limit, and lets lone
surrogates (`"\\ud800"`) through, which cannot be encoded as UTF-8. A body is therefore parsed
strictly (`strict_json_loads`), and what is stored in `metadata` is bounded (`metadata_problem`),
so that every stored value renders as strict JSON and reads back as it was sent.
"""

import json
import math
from collections.abc import Iterator
from typing import Any, Final

# Documented bounds (docs/api.md, "Hostile input").
METADATA_MAX_DEPTH: Final = 32
METADATA_MAX_KEYS: Final = 1_000
# Integers round-trip exactly up to 4,300 digits (Python's own limit for int <-> text, which
# json.loads and json.dumps would otherwise hit as an error); longer ones are refused.
MAX_INTEGER_DIGITS: Final = 4_300
_INTEGER_BOUND: Final = 10**MAX_INTEGER_DIGITS
# A safety net for the whole body, refused before any model sees it; looser than the metadata
# bound, so that a metadata a little too deep gets the message that names it.
_BODY_MAX_DEPTH: Final = 2 * METADATA_MAX_DEPTH


class JsonRuleError(ValueError):
    """A body or value breaks one of the rules above; the message names the problem (never data)."""


def _reject_constant(name: str) -> Any:
    raise JsonRuleError(f"request body is not valid JSON ({name} is not a JSON number)")


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonRuleError("request body has a number out of range (it overflows a 64-bit float)")
    if value == 0.0 and any(digit in "123456789" for digit in text.lower().split("e", 1)[0]):
        raise JsonRuleError("request body has a number out of range (it underflows a 64-bit float)")
    return value


def _parse_int(text: str) -> int:
    # Checked before int(), which raises a bare ValueError past 4,300 digits.
    if len(text.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise JsonRuleError(
            f"request body has an integer of more than {MAX_INTEGER_DIGITS} digits (send it as a string)"
        )
    return int(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise JsonRuleError("request body has an object with a duplicate key")
    return result


def strict_json_loads(text: str | bytes | bytearray) -> Any:
    """Parse a request body as strict JSON (RFC 8259): no NaN/Infinity, no float a 64-bit float
    cannot hold, no integer of more than 4,300 digits, no duplicate keys, no lone surrogates,
    bounded nesting. `JsonRuleError` (a `ValueError`) names what is wrong."""
    try:
        value = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_parse_float,
            parse_int=_parse_int,
            object_pairs_hook=_unique_keys,
        )
    except JsonRuleError:
        raise
    except RecursionError:
        raise JsonRuleError(_too_deep("request body", _BODY_MAX_DEPTH)) from None
    except (ValueError, UnicodeDecodeError):
        raise JsonRuleError("request body is not valid JSON") from None
    problem = value_problem(value, "request body", max_depth=_BODY_MAX_DEPTH)
    if problem is not None:
        raise JsonRuleError(problem)
    return value


def _too_deep(field: str, depth: int) -> str:
    return f"{field} nests deeper than {depth} levels"


def _walk(value: Any) -> Iterator[tuple[Any, int]]:
    """Every value inside `value` (itself included) with its depth (1 for `value`), without
    recursion: the depth of what is walked is only known while walking."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        yield current, depth
        if isinstance(current, dict):
            stack.extend((item, depth + 1) for item in current.values())
        elif isinstance(current, list):
            stack.extend((item, depth + 1) for item in current)


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def value_problem(
    value: Any, field: str, *, max_depth: int = METADATA_MAX_DEPTH, max_keys: int | None = None
) -> str | None:
    """Why `value` (parsed JSON) cannot be stored and read back exactly, or None when it can:
    nesting beyond `max_depth` (objects and arrays; `value` itself is level 1), more than
    `max_keys` object keys in all, a string or key that is not UTF-8 (a lone surrogate), a number
    that is not finite or an integer of more than 4,300 digits."""
    keys = 0
    for current, depth in _walk(value):
        if isinstance(current, dict | list) and depth > max_depth:
            return _too_deep(field, max_depth)
        if isinstance(current, dict):
            keys += len(current)
            if max_keys is not None and keys > max_keys:
                return f"{field} has more than {max_keys} keys"
            if not all(isinstance(key, str) and _encodable(key) for key in current):
                return f"{field} has a key that is not valid UTF-8 text (a lone surrogate)"
        elif isinstance(current, str):
            if not _encodable(current):
                return f"{field} has a string that is not valid UTF-8 text (a lone surrogate)"
        elif isinstance(current, bool) or current is None:
            continue
        elif isinstance(current, int):
            if not -_INTEGER_BOUND < current < _INTEGER_BOUND:
                return f"{field} has an integer of more than {MAX_INTEGER_DIGITS} digits"
        elif isinstance(current, float):
            if not math.isfinite(current):
                return f"{field} has a number that is not finite (NaN or Infinity)"
        elif not isinstance(current, dict | list):
            return f"{field} holds a value that is not JSON"
    return None


def metadata_problem(metadata: dict[str, Any]) -> str | None:
    """Why a `metadata` object cannot be stored (see `value_problem`), or None."""
    return value_problem(metadata, "metadata", max_depth=METADATA_MAX_DEPTH, max_keys=METADATA_MAX_KEYS)


def text_problem(text: str, field: str) -> str | None:
    """Why a string field cannot be stored (a lone surrogate), or None."""
    return None if _encodable(text) else f"{field} is not valid UTF-8 text (a lone surrogate)"
