"""An answer of the API as the tests read it, whether a handler gave it in process
(tests/integration) or it came over HTTP (tests/e2e): the shared fault clients read both."""

import json
from dataclasses import dataclass
from typing import Any

import requests


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: str

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @classmethod
    def of_lambda(cls, response: dict[str, Any]) -> "Reply":
        """A Lambda proxy integration's response (statusCode, headers, body)."""
        return cls(response["statusCode"], response.get("headers") or {}, response.get("body") or "")

    @classmethod
    def of_http(cls, response: requests.Response) -> "Reply":
        return cls(response.status_code, dict(response.headers), response.text)
