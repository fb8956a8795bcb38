"""DynamoDB's `ClientRequestToken` of `TransactWriteItems`, which moto ignores, as DynamoDB
documents it: the same token and the same request within 10 minutes of the first successful
completion is answered as the first was, without applying anything again; the same token with a
different request is `IdempotentParameterMismatchException`. A request whose earlier tries under
the token failed (cancelled, refused) is applied when it comes again.

Used by the embedded AWS, which serves requests one at a time (no token is ever "in progress").
"""

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

# Status line, headers, body.
Answer = tuple[str, list[tuple[str, str]], bytes]

WINDOW_SECONDS: Final = 600.0


@dataclass
class _Use:
    request: str
    seen: float
    answer: Answer | None = None
    until: float = 0.0


def _mismatch() -> Answer:
    code = "IdempotentParameterMismatchException"
    body = json.dumps(
        {
            "__type": f"com.amazonaws.dynamodb.v20120810#{code}",
            "message": "The request uses the same client token as a previous, but non-identical request.",
        }
    ).encode()
    return "400 Bad Request", [("Content-Type", "application/x-amz-json-1.0")], body


class ClientRequestTokens:
    """The tokens seen in the last `window` seconds and the answers they replay."""

    def __init__(self, window: float = WINDOW_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self._window = window
        self._clock = clock
        self._uses: dict[str, _Use] = {}

    def serve(self, body: bytes, execute: Callable[[], Answer]) -> Answer:
        """The answer to a TransactWriteItems request: replayed, refused, or `execute()`d."""
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            return execute()
        token = request.pop("ClientRequestToken", None) if isinstance(request, dict) else None
        if not token:
            return execute()
        now = self._clock()
        self._uses = {
            t: u for t, u in self._uses.items() if (u.until if u.answer else u.seen + self._window) > now
        }
        identity = json.dumps(request, sort_keys=True)
        use = self._uses.get(token)
        if use is not None and use.request != identity:
            return _mismatch()
        if use is not None and use.answer is not None:
            return use.answer
        answer = execute()
        use = use or self._uses.setdefault(token, _Use(identity, now))
        if answer[0].startswith("200"):
            use.answer, use.until = answer, self._clock() + self._window
        return answer
