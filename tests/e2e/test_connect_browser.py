"""Connect a CRM in a real browser: `make run FAKE_CRMS=1`'s stack (a devserver process with the
fake CRMs), headless Chromium driven by Selenium through the fake consent page's "Allow" button,
landing on a return URL served here; then the credentials it names are read over HTTP. A
reconnect of the same credentials goes through the browser again and keeps the id.

Debian's `chromium` and `chromium-driver` are installed by this module's setup when missing (apt,
as root). If they cannot be installed the test says why and is skipped in CI only (CI set): a
local run must run it."""

import os
import shutil
import subprocess
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.conftest import RunningStack, free_port_pair, mint_api_key, start_stack

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
    """The platform's return page: shows the outcome it was sent back with."""

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        body = f"<html><body><h1 id='outcome'>{'connected' if 'credentials_id' in query else 'failed'}</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        self.wfile.write((body + "</body></html>").encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def landing() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Landing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/crm/connected"
    finally:
        server.shutdown()


@pytest.fixture(scope="module")
def fake_crm_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    port = free_port_pair()
    log_path: Path = tmp_path_factory.mktemp("connect-stack") / "stack.log"
    running = start_stack(log_path, port, port + 1, LOCAL_FAKE_CRMS="1", LOCAL_REFRESH_INTERVAL_SECONDS="0")
    try:
        yield running
    finally:
        assert running.stop() == 0, running.log_tail()


def _connect_in_browser(driver: Any, stack: RunningStack, key: str, body: dict[str, Any]) -> dict[str, str]:
    """POST connect, open connect_url in the browser, click Allow; the return URL's query."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.wait import WebDriverWait

    started = requests.post(
        f"{stack.base_url}/integration-credentials/connect", headers={"X-API-Key": key}, json=body, timeout=30
    )
    assert started.status_code == 201, started.text
    driver.get(started.json()["connect_url"])
    allow = WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(
        expected_conditions.element_to_be_clickable((By.ID, "allow"))
    )
    assert allow.text == "Allow"
    allow.click()
    WebDriverWait(driver, PAGE_TIMEOUT_SECONDS).until(expected_conditions.url_contains(body["return_url"]))
    outcome = driver.find_element(By.ID, "outcome").text
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(driver.current_url).query))
    assert outcome == "connected", (outcome, driver.current_url)
    return query


@pytest.mark.parametrize("provider", ["salesforce", "hubspot"])
def test_connect_and_reconnect_a_crm_in_headless_chromium(browser, fake_crm_stack, landing, provider):
    # Given an org's API key on the stack that serves the fake CRMs
    org_id = f"org-browser-{provider}"
    key = mint_api_key(fake_crm_stack, org_id)
    # When its user connects the CRM in a real browser (the fake consent page's Allow button)
    query = _connect_in_browser(browser, fake_crm_stack, key, {"provider": provider, "return_url": landing})
    # Then the browser lands on the return URL with the new credentials' id, which are readable
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
    again = _connect_in_browser(
        browser,
        fake_crm_stack,
        key,
        {"provider": provider, "return_url": landing, "credentials_id": credentials_id},
    )
    assert again["credentials_id"] == credentials_id
    second = requests.get(
        f"{fake_crm_stack.base_url}/integration-credentials/{credentials_id}",
        headers={"X-API-Key": key},
        timeout=30,
    ).json()
    assert second["created_at"] == first["created_at"]
    assert second["access_token"] != first["access_token"]
    # The tokens never reached the stack's log
    log = fake_crm_stack.log_text()
    for token in (first["access_token"], second["access_token"], second["metadata"]["refresh_token"]):
        assert token not in log
