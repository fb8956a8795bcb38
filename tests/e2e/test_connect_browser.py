"""Connect a CRM in a real browser: `make run FAKE_CRMS=1`'s stack (a devserver process with the
fake CRMs), headless Chromium driven by Selenium through the fake consent page's "Allow" button,
landing on a return URL served here, a return page as docs/connect.md asks for: it believes the outcome
only once `connect_result` verifies against its session (the end user and the link it started).
Then the credentials it names are read over HTTP. A reconnect of the same credentials goes through
the browser again and keeps the id; a link finished in another user's session is refused.

Debian's `chromium` and `chromium-driver` are installed by this module's setup when missing (apt,
as root). If they cannot be installed the test says why and is skipped in CI only (CI set): a
local run must run it."""

import html
import os
import secrets
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import requests
from integration_credentials.policy.connect_result import ConnectResultError, verify_connect_result

from tests.e2e.conftest import RunningStack, connect_result_key, mint_api_key
from tests.plaintext import leaks_in_bytes

# The modules on the session's fake-CRM stack run on one worker: that stack starts once.
pytestmark = pytest.mark.xdist_group("fake_crm_stack")

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
APT_TIMEOUT_SECONDS = 600
PAGE_TIMEOUT_SECONDS = 30


def _install_browser() -> str | None:
    """Install Debian's chromium and chromium-driver if missing; why not, if that failed."""
    if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
        return None
    apt = shutil.which("apt-get")
    if apt is None:
        return "no apt-get on this machine to install Debian's chromium and chromium-driver"
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    environment = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, apt, "install", "-y", "-q", "--no-install-recommends", "chromium", "chromium-driver"]
    # The package lists may be missing or stale on a fresh machine: after a failure, update and retry.
    output = ""
    for commands in ([install], [[*sudo, apt, "update", "-q"], install]):
        try:
            for command in commands:
                done = subprocess.run(
                    command,
                    env=environment,
                    capture_output=True,
                    text=True,
                    timeout=APT_TIMEOUT_SECONDS,
                    check=False,
                )
                output = done.stderr or done.stdout
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"installing chromium failed: {error}"
        if os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER):
            return None
    return f"apt-get could not install chromium and chromium-driver: {output[-500:]}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    problem = _install_browser()
    if problem is not None:
        if os.environ.get("CI"):
            pytest.skip(f"headless Chromium unavailable in CI: {problem}")
        pytest.fail(f"headless Chromium is required locally: {problem}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT_SECONDS)
    try:
        yield driver
    finally:
        driver.quit()


class _Landing(BaseHTTPRequestHandler):
    """The platform's return page: the outcome it shows is `connect_result`'s once verified with
    the deployment's key against the session (`session` in the URL stands for the platform's
    cookie): the end user signed in there and the link (state hash) it started."""

    key = ""
    sessions: ClassVar[dict[str, tuple[str, str]]] = {}  # session -> (end user, state hash)

    def do_GET(self) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(self.path).query))
        end_user, state_hash = self.sessions.get(query.get("session", ""), ("", ""))
        try:
            result = verify_connect_result(
                query.get("connect_result", ""), self.key, end_user=end_user, state_hash=state_hash
            )
            outcome = result.status or result.error or "failed"
        except ConnectResultError as error:
            outcome = f"refused: {error}"
        body = f"<html><body><h1 id='outcome'>{html.escape(outcome)}</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body + "</body></html>").encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def landing(fake_crm_stack: RunningStack) -> Iterator[str]:
    _Landing.key = connect_result_key(fake_crm_stack)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/crm/connected"
    finally:
        server.shutdown()


def _connect_in_browser(
    driver: Any, stack: RunningStack, key: str, body: dict[str, Any], *, session_user: str | None = None
) -> tuple[str, dict[str, str]]:
    """POST connect for `body["end_user"]`, open connect_url in the browser of a session signed in
    as `session_user` (the same user by default), click Allow: the return page's outcome, and the
    return URL's query."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    session = secrets.token_urlsafe(16)
    body = {**body, "return_url": f"{body['return_url']}?session={session}"}
    started = requests.post(
        f"{stack.base_url}/integration-credentials/connect", headers={"X-API-Key": key}, json=body, timeout=30
    )
    assert started.status_code == 201, started.text
    user = body["end_user"] if session_user is None else session_user
    _Landing.sessions[session] = (user, started.json()["state_hash"])
    driver.get(started.json()["connect_url"])
    allow = WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(
        expected_conditions.element_to_be_clickable((By.ID, "allow"))
    )
    assert allow.text == "Allow"
    allow.click()
    WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(expected_conditions.url_contains(body["return_url"]))
    outcome = driver.find_element(By.ID, "outcome").text
    return outcome, dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(driver.current_url).query))


@pytest.mark.parametrize("provider", ["salesforce", "hubspot"])
def test_connect_and_reconnect_a_crm_in_headless_chromium(browser, fake_crm_stack, landing, provider):
    # Given an org's API key on the stack that serves the fake CRMs
    org_id = f"org-browser-{provider}"
    key = mint_api_key(fake_crm_stack, org_id)
    # When its user connects the CRM in a real browser (the fake consent page's Allow button)
    body = {"provider": provider, "return_url": landing, "end_user": f"user-of-{org_id}"}
    outcome, query = _connect_in_browser(browser, fake_crm_stack, key, body)
    # Then the browser lands on the return URL, whose page verified the signed outcome, with the
    # new credentials' id, which are readable
    assert outcome == "connected", query
    assert query["status"] == "connected" and query["provider"] == provider
    credentials_id = query["credentials_id"]
    read = requests.get(
        f"{fake_crm_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": key},
        timeout=30,
    )
    assert read.status_code == 200, read.text
    first = read.json()
    assert first["provider"] == provider and first["status"] == "active"
    assert first["metadata"]["refresh_token"]
    # No token in any URL the browser went through
    assert first["access_token"] not in browser.current_url
    # And a reconnect through the browser keeps the id and brings new tokens
    outcome, again = _connect_in_browser(
        browser, fake_crm_stack, key, {**body, "credentials_id": credentials_id}
    )
    assert outcome == "connected" and again["credentials_id"] == credentials_id
    second = requests.get(
        f"{fake_crm_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": key},
        timeout=30,
    ).json()
    assert second["created_at"] == first["created_at"]
    assert second["access_token"] != first["access_token"]
    # The tokens never reached the stack's log
    log = fake_crm_stack.log_text()
    tokens = (first["access_token"], second["access_token"], second["metadata"]["refresh_token"])
    assert leaks_in_bytes(log, tokens) == []


def test_a_link_finished_in_another_users_session_is_refused_by_the_return_page(
    browser, fake_crm_stack, landing
):
    # Given a link made for alice, opened in a browser whose platform session is mallory's (the
    # account-linking CSRF: mallory was sent alice's link, or alice was sent mallory's)
    key = mint_api_key(fake_crm_stack, "org-browser-csrf")
    body = {"provider": "zoho", "return_url": landing, "end_user": "alice"}
    # When the consent is given and the browser comes back
    outcome, query = _connect_in_browser(browser, fake_crm_stack, key, body, session_user="mallory")
    # Then the return page refuses the outcome, whatever the plain parameters say
    assert query["status"] == "connected"
    assert outcome == "refused: connect_result was made for another end user"
