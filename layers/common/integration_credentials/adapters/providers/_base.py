"""What each provider module supplies to the shared refresh flow."""

import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ._http import TokenRequest
from .errors import PermanentRefreshError
from .models import OAuthClient

Outcome = Literal["reconnect", "transient"]


@dataclass(frozen=True, slots=True)
class Provider:
    """One provider's token endpoint, request shape, response fields and failure codes.

    `classify(status, code, description)` returns the outcome of an error response and the code
    to report, or None for the default (a permanent error that does not need a reconnect).
    """

    name: str
    default_token_url: Callable[[Mapping[str, Any], str | None], str]
    build_request: Callable[[str, Mapping[str, Any], OAuthClient, str, str | None], TokenRequest]
    metadata_updates: Callable[[Mapping[str, Any]], dict[str, Any]]
    classify: Callable[[int, str, str], tuple[Outcome, str] | None]


def fixed_token_url(url: str) -> Callable[[Mapping[str, Any], str | None], str]:
    """`default_token_url` of a provider with one global token endpoint."""

    def default_token_url(metadata: Mapping[str, Any], dsn: str | None) -> str:
        return url

    return default_token_url


def refresh_grant(client: OAuthClient, refresh_token: str) -> dict[str, str]:
    """The standard refresh_token grant with the client's credentials in the parameters (RFC 6749
    section 6), sent as a form body by every provider here."""
    return {
        "grant_type": "refresh_token",
        "client_id": client.client_id,
        "client_secret": client.client_secret,
        "refresh_token": refresh_token,
    }


def string_field(metadata: Mapping[str, Any], *keys: str) -> str | None:
    """The first of `keys` holding a non-blank string, stripped."""
    for key in keys:
        value = metadata.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def https_host(value: str | None) -> str | None:
    """The lowercase host of an https URL (a bare host name is read as https), else None."""
    if not value:
        return None
    if "://" not in value:
        value = f"https://{value}"
    try:
        parts = urllib.parse.urlsplit(value)
        host = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "https" or not host or parts.username or parts.password:
        return None
    if port not in (None, 443):
        return None
    return host.lower()


def is_utf8(text: str) -> bool:
    """False for a string with a lone surrogate ("\\ud800" in JSON): it could not be stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def copy_strings(body: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    """The response fields among `keys` that are non-empty UTF-8 strings."""
    return {
        key: body[key] for key in keys if isinstance(body.get(key), str) and body[key] and is_utf8(body[key])
    }


def missing(code: str, message: str) -> PermanentRefreshError:
    """Stored metadata lacks something the refresh needs: someone has to reconnect."""
    return PermanentRefreshError(code, message, reconnect_required=True)
