"""List cursors. A cursor is the provider the next page starts after (so every cursor the
document allows is one the service accepts); the query is always bounded to the caller's org,
so a forged cursor can reveal nothing of another org."""

import re

from ..core.constants import PROVIDER_PATTERN
from ..core.errors import InvalidRequestError

MAX_PAGE_SIZE = 100
CURSOR_PATTERN = PROVIDER_PATTERN
_PROVIDER_RE = re.compile(PROVIDER_PATTERN)


def encode_cursor(after_provider: str) -> str:
    """The cursor of the page that starts after `after_provider`."""
    return after_provider


def decode_cursor(cursor: str) -> str:
    """The provider a cursor continues after; `InvalidRequestError` for anything else."""
    if not _PROVIDER_RE.fullmatch(cursor):
        raise InvalidRequestError("cursor is not valid")
    return cursor
