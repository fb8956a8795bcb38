"""Rules of the OAuth connect flow, no I/O: which return URLs a browser may be sent back to, how it
is sent back, how a state is named in storage, and the API base of the credentials it creates.

The allow-list (`CONNECT_RETURN_URLS`) holds origins or prefixes, separated by commas or white
space: `https://app.example.com` allows every path of that origin, `https://app.example.com/crm/`
only paths under `/crm/`, and a port may be `*` (`http://127.0.0.1:*`). A return URL must match an
entry's scheme, host and port exactly, carry no user name or password, and its path must stay under
the prefix however a browser, a proxy or the platform's server reads it: no `.`/`..` segment (a
browser resolves it), no percent-encoded `.`, `/`, backslash, `;` or `%` (a server that decodes once more
turns `%252e%252e` into `..`), and no `;` (servers such as Tomcat and Spring read `..;` as `..`
with a path parameter).
"""

import hashlib
import re
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any, Final

# What `secrets.token_urlsafe(32)` makes (256 random bits), with room for longer ones.
STATE_PATTERN: Final = r"^[A-Za-z0-9_-]{43,128}$"
# Query parameters the callback sets on the return URL (a return URL's own are replaced).
RESULT_PARAMETERS: Final = ("credentials_id", "provider", "status", "error", "connect_result")
# The provider's `error` is passed on when it is an RFC 6749 code; anything else is this.
UNKNOWN_PROVIDER_ERROR: Final = "authorization_failed"
_ERROR_CODE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_ENTRY = re.compile(
    r"^(?P<scheme>https?)://(?P<host>[^/:?#@\s]+)(?::(?P<port>\*|[0-9]{1,5}))?(?P<path>/[^?#\s]*)?$"
)
_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
# Percent-encodings in a path that some reader could decode into a segment separator, a dot
# segment or a path parameter: `.` `/` `\` `;` and `%` itself (double encoding).
_ENCODED_PATH_SYNTAX = re.compile(r"%(2e|2f|5c|3b|25)", re.IGNORECASE)
MAX_RETURN_URL_CHARS: Final = 2048
# The API base of new credentials (their `dsn`) when the token response names none.
_DEFAULT_DSNS: Final = {
    "salesforce": "https://login.salesforce.com",
    "hubspot": "https://api.hubapi.com",
    "pipedrive": "https://api.pipedrive.com",
    "zoho": "https://www.zohoapis.com",
}
_DSN_KEYS: Final = ("instance_url", "api_domain")


def allow_list(setting: str | None) -> tuple[str, ...]:
    """The entries of a `CONNECT_RETURN_URLS` value."""
    return tuple(entry for entry in re.split(r"[\s,]+", setting or "") if entry)


def return_url_problem(url: str, allowed: Sequence[str]) -> str | None:
    """Why `url` may not be a return URL (None: it may)."""
    if not allowed:
        return "return_url cannot be accepted: this deployment allows none (CONNECT_RETURN_URLS is empty)"
    if any(ord(character) <= 0x20 or ord(character) == 0x7F for character in url) or "\\" in url:
        return "return_url must not contain spaces, control characters or backslashes"
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port
    except ValueError:
        return "return_url is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return "return_url must be an absolute http or https URL"
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        return "return_url must not carry a user name or password"
    segments = urllib.parse.unquote(parts.path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return "return_url must not have '.' or '..' path segments"
    if _ENCODED_PATH_SYNTAX.search(parts.path):
        return "return_url must not have percent-encoded '.', '/', '\\', ';' or '%' in its path"
    if ";" in parts.path:
        return "return_url must not have ';' path parameters"
    for entry in allowed:
        if _matches(scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme], parts.path, entry):
            return None
    return "return_url is not allowed by this deployment (CONNECT_RETURN_URLS)"


def _matches(scheme: str, host: str, port: int, path: str, entry: str) -> bool:
    match = _ENTRY.match(entry.strip())
    if match is None or match["scheme"].lower() != scheme or match["host"].lower() != host:
        return False
    entry_port = match["port"]
    if entry_port != "*" and int(entry_port or _DEFAULT_PORTS[scheme]) != port:
        return False
    prefix = match["path"] or "/"
    if prefix.endswith("/"):
        return (path or "/").startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


def with_result(return_url: str, result: Mapping[str, str]) -> str:
    """`return_url` with the flow's result as query parameters (its own parameters of the same
    names dropped, so a return URL cannot pre-set a result), its fragment kept."""
    parts = urllib.parse.urlsplit(return_url)
    query = [
        (name, value)
        for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        if name not in RESULT_PARAMETERS
    ]
    query.extend(result.items())
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def state_key(state: str) -> str:
    """How a state is stored and looked up: its SHA-256 (a state has >= 128 random bits, so a
    table read yields nothing a browser could present)."""
    return hashlib.sha256(state.encode("ascii")).hexdigest()


def provider_error_code(error: str) -> str:
    """The `error` the callback passes on from the provider: an RFC 6749 code (`access_denied`;
    Salesforce's documented `access-denied` spelled the same way), else `authorization_failed`."""
    return error.replace("-", "_") if _ERROR_CODE.match(error) else UNKNOWN_PROVIDER_ERROR


def credentials_dsn(provider: str, metadata: Mapping[str, Any], scopes: Any) -> str:
    """The API base of new credentials: the org's URL the token response (or a hint) names, else
    the origin of a resource scope (Dynamics), else the provider's API."""
    for key in _DSN_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value.startswith("https://"):
            return value
    for scope in scopes or ():
        parts = urllib.parse.urlsplit(str(scope))
        if parts.scheme == "https" and parts.netloc:
            return f"https://{parts.netloc}"
    return _DEFAULT_DSNS.get(provider, f"https://{provider}")
