"""One CRM's authorize step and consent page, and `press_consent`, the test driver that presses
Allow or Deny over HTTP (no browser needed).

The authorize step checks the query as the provider does (client_id known, redirect_uri the
registered one, state, scope, Zoho's access_type/prompt, PKCE S256 for every provider but
Pipedrive) and `response_type=code` as a standard authorization server does (RFC 6749 section
4.1.1; HubSpot's and Pipedrive's references do not list it). A bad request is a 400 HTML page
(providers never redirect to an unchecked redirect_uri), a good one a consent page with Allow and
Deny. Allow mints a single-use code bound to the client, redirect_uri, challenge and scopes and
303s to `redirect_uri?code=..&state=..` (Zoho adds `location` and `accounts-server`); Deny 303s
with `error=access_denied&error_description=..&state=..`.
"""

import html
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .grants import Code, Minter
from .http import HTML, Received, Reply
from .specs import ZOHO_DATA_CENTRES

if TYPE_CHECKING:
    from .crm import Crm

PENDING_LIFETIME_SECONDS = 600  # a consent page left open longer must be reloaded
_S256 = re.compile(r"^[A-Za-z0-9_-]{43}$")
_PENDING_FIELD = re.compile(r'name="request" value="([A-Za-z0-9_-]+)"')


class FakeCrmError(Exception):
    """The fake refused what a test asked it to do (an authorize URL it would not serve...)."""


def page(title: str, content: str, status: int = 200) -> Reply:
    text = (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title></head><body>{content}</body></html>"
    )
    return Reply(status, text.encode("utf-8"), content_type=HTML)


def not_found() -> Reply:
    return page("Not found", "<h1>Not found</h1>", 404)


def authorize_reply(crm: "Crm", received: Received) -> Reply:
    """The consent page, or a 400 page naming what the provider would refuse."""
    if any(len(values) != 1 for values in received.query.values()):
        problem: str | None = "a parameter is repeated."
        query: dict[str, str] = {}
    else:
        query = {key: values[0] for key, values in received.query.items()}
        problem = check_authorize(crm, query)
    if problem is not None:
        title = f"{crm.spec.title} (fake): error"
        return page(title, f"<h1>{html.escape(title)}</h1><p>{html.escape(problem)}</p>", 400)
    return consent_page(crm, query, crm.pend(query))


def check_authorize(crm: "Crm", query: Mapping[str, str]) -> str | None:
    """The reason the provider would refuse this authorize request, or None."""
    spec = crm.spec
    if not query.get("client_id"):
        return "client_id is missing."
    if query["client_id"] != crm.client["client_id"]:
        return "client_id is not a known application."
    redirect_uri = query.get("redirect_uri", "")
    if urllib.parse.urlsplit(redirect_uri).scheme not in ("http", "https"):
        return "redirect_uri is missing or not an http(s) URL."
    registered = crm.client.get("redirect_uri")
    if registered is not None and redirect_uri != registered:
        return "redirect_uri does not match the one registered for the application."
    if query.get("response_type") != "code":
        return "unsupported_response_type: response_type must be code."
    if not query.get("state"):
        return "state is missing (the service always sends one)."
    if spec.scope_required and not query.get("scope", "").strip():
        return "scope is required."
    for name, value in spec.required:
        if query.get(name) != value:
            return f"{name} must be {value} (else {spec.title} issues no usable refresh token)."
    challenge = query.get("code_challenge")
    if challenge is not None or "code_challenge_method" in query:
        if query.get("code_challenge_method") != "S256" or not _S256.match(challenge or ""):
            return "code_challenge must be an S256 challenge with code_challenge_method=S256."
        if not spec.pkce:
            return f"code_challenge: {spec.title} takes no PKCE challenge."
    elif spec.pkce and crm.require_pkce:
        return "code_challenge (PKCE S256) is required."
    return None


def _scopes(crm: "Crm", query: Mapping[str, str]) -> list[str]:
    separator = crm.spec.scope_separator
    scope = query.get("scope", "")
    if separator is None or not scope:
        return []
    return [part for part in scope.split(separator) if part]


def consent_page(crm: "Crm", query: Mapping[str, str], request_id: str) -> Reply:
    """Allow and Deny; the authorize parameters stay on the server (an opaque request id)."""
    app = html.escape(query["client_id"])
    scopes = _scopes(crm, query)
    if crm.provider == "hubspot" and query.get("optional_scope"):
        scopes += [f"{scope} (optional)" for scope in query["optional_scope"].split() if scope]
    listed = "".join(f"<li>{html.escape(scope)}</li>" for scope in scopes) or (
        "<li>the scopes set in the app's registration</li>"
    )
    title = f"{crm.spec.title} (fake) — {app} wants access"
    return page(
        title,
        f"<h1>{html.escape(crm.spec.title)} (fake) — {app} wants access</h1>"
        f"<p>It asks for:</p><ul>{listed}</ul>"
        f"<p>You will be sent back to {html.escape(query['redirect_uri'])}</p>"
        f'<form method="post" action="/{crm.provider}/consent">'
        f'<input type="hidden" name="request" value="{request_id}">'
        '<button id="allow" type="submit" name="decision" value="allow">Allow</button> '
        '<button id="deny" type="submit" name="decision" value="deny">Deny</button>'
        "</form>",
    )


class Pending:
    """Authorize requests waiting for the user's decision, by opaque request id."""

    def __init__(self) -> None:
        self._requests: dict[str, tuple[dict[str, str], float]] = {}

    def add(self, query: Mapping[str, str]) -> str:
        """Caller holds the CRM's lock."""
        request_id = secrets.token_urlsafe(24)
        now = time.monotonic()
        for stale in [key for key, (_, at) in self._requests.items() if now - at > PENDING_LIFETIME_SECONDS]:
            del self._requests[stale]
        self._requests[request_id] = (dict(query), now)
        return request_id

    def take(self, request_id: str) -> dict[str, str] | None:
        """Caller holds the CRM's lock."""
        pending = self._requests.pop(request_id, None)
        return None if pending is None else pending[0]


def consent_reply(crm: "Crm", received: Received) -> Reply:
    """The user's decision: a 303 to the redirect_uri, or a 400 page for an unknown request."""
    form = dict(urllib.parse.parse_qsl(received.body.decode("latin-1"), keep_blank_values=True))
    with crm.ledger.lock:
        query = crm.pending.take(form.get("request", ""))
    if query is None:
        return page("Expired", "<h1>This consent request is unknown or expired.</h1>", 400)
    redirect_uri, state = query["redirect_uri"], query["state"]
    if form.get("decision") != "allow":
        denied = {
            "error": "access_denied",
            "error_description": "The user denied the request (fake).",
            "state": state,
        }
        return _redirect(redirect_uri, denied)
    code = Minter.code("aPrx" if crm.provider == "salesforce" else "")
    grant = Code(
        query["client_id"], redirect_uri, query.get("code_challenge"), query.get("scope"), time.monotonic()
    )
    crm.ledger.add_code(code, grant)
    params = {"code": code, "state": state}
    if crm.provider == "zoho":
        accounts, _, location = ZOHO_DATA_CENTRES[crm.zoho_data_centre]
        params.update({"location": location, "accounts-server": f"https://{accounts}"})
    return _redirect(redirect_uri, params)


def _redirect(url: str, params: Mapping[str, str]) -> Reply:
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote)
    return Reply(303, b"", {"Location": f"{url}{'&' if '?' in url else '?'}{query}"})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def press_consent(authorize_url: str, allow: bool = True) -> str:
    """Open a fake CRM's `authorize_url` over HTTP (in this process or another: `make run
    FAKE_CRMS=1`'s), press Allow or Deny on its consent page, return the redirect's Location.

    Raises FakeCrmError with the page's text when the authorize step refuses the request.
    """
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(authorize_url, timeout=10) as response:
            text = response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        words = re.sub(r"<[^>]+>", " ", error.read().decode("utf-8", "replace"))
        raise FakeCrmError(f"authorize refused ({error.code}): {' '.join(words.split())}") from None
    match = _PENDING_FIELD.search(text)
    action = re.search(r'action="(/[a-z]+/consent)"', text)
    if match is None or action is None:
        raise FakeCrmError("the authorize step answered no consent page")
    parts = urllib.parse.urlsplit(authorize_url)
    form = urllib.parse.urlencode({"request": match.group(1), "decision": "allow" if allow else "deny"})
    request = urllib.request.Request(  # noqa: S310 (the fake's own http URL)
        f"{parts.scheme}://{parts.netloc}{action.group(1)}",
        data=form.encode("ascii"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        opener.open(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code in (302, 303) and error.headers.get("Location"):
            return str(error.headers["Location"])
        raise FakeCrmError(f"consent answered HTTP {error.code}") from None
    raise FakeCrmError("consent answered no redirect")
