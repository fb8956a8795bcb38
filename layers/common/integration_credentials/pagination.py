"""Opaque list cursors. A cursor names only the provider to continue after; the query is always
bounded to the caller's org, so a forged cursor can reveal nothing of another org."""

import base64
import binascii
import json
import re

from .constants import PROVIDER_PATTERN
from .errors import InvalidRequestError

MAX_PAGE_SIZE = 100
_PROVIDER_RE = re.compile(PROVIDER_PATTERN)


def encode_cursor(after_provider: str) -> str:
    """The cursor of the page that starts after `after_provider`."""
    return base64.urlsafe_b64encode(json.dumps({"after": after_provider}).encode()).rstrip(b"=").decode()


def decode_cursor(cursor: str) -> str:
    """The provider a cursor continues after; `InvalidRequestError` for anything else."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        document = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidRequestError("cursor is not valid") from None
    after = document.get("after") if isinstance(document, dict) else None
    if not isinstance(after, str) or not _PROVIDER_RE.fullmatch(after):
        raise InvalidRequestError("cursor is not valid")
    return after
