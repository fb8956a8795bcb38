"""The connect flow's pure rules: the return URL allow-list, the redirect back, the state's key."""

import hashlib
import urllib.parse

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from integration_credentials.policy.connect import (
    allow_list,
    provider_error_code,
    return_url_problem,
    state_key,
    with_result,
)

ALLOWED = allow_list(
    "https://app.example.com/crm/, https://admin.example.com\nhttp://127.0.0.1:*,https://x.example.com/cb"
)


def test_allow_list_splits_on_commas_and_white_space():
    assert ALLOWED == (
        "https://app.example.com/crm/",
        "https://admin.example.com",
        "http://127.0.0.1:*",
        "https://x.example.com/cb",
    )
    assert allow_list(None) == allow_list("") == allow_list(" , ") == ()


@pytest.mark.parametrize(
    "url",
    [
        "https://app.example.com/crm/",
        "https://app.example.com/crm/done?tab=1#top",
        "https://APP.EXAMPLE.COM/crm/x",
        "https://app.example.com:443/crm/x",
        "https://admin.example.com",
        "https://admin.example.com/anything/below",
        "http://127.0.0.1:1/",
        "http://127.0.0.1:65535/cb?x=1",
        "https://x.example.com/cb",
        "https://x.example.com/cb/",
        "https://x.example.com/cb?done=1",
    ],
)
def test_allowed(url):
    assert return_url_problem(url, ALLOWED) is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://app.example.com/crmx", "not allowed"),
        ("https://app.example.com/", "not allowed"),
        ("https://x.example.com/cbx", "not allowed"),
        ("http://app.example.com/crm/", "not allowed"),
        ("https://app.example.com:8443/crm/", "not allowed"),
        ("http://127.0.0.2:80/", "not allowed"),
        ("http://localhost:3000/", "not allowed"),
        ("https://app.example.com.evil.net/crm/", "not allowed"),
        ("https://evil.net/https://app.example.com/crm/", "not allowed"),
        ("https://app.example.com/crm/../admin", "'.' or '..'"),
        ("https://app.example.com/crm/%2E%2E/admin", "'.' or '..'"),
        ("https://app.example.com/crm/./x", "'.' or '..'"),
        ("https://app.example.com/crm/%252e%252e/admin", "percent-encoded"),
        ("https://app.example.com/crm/%252E%252E/admin", "percent-encoded"),
        ("https://app.example.com/crm/%25252e%25252e/admin", "percent-encoded"),
        ("https://app.example.com/crm/.%2e/admin", "'.' or '..'"),
        ("https://app.example.com/crm/%2e/x", "'.' or '..'"),
        ("https://app.example.com/crm/x%2e/y", "percent-encoded"),
        ("https://app.example.com/crm/..%2fadmin", "'.' or '..'"),
        ("https://app.example.com/crm/..%5cadmin", "percent-encoded"),
        ("https://app.example.com/crm/..%3b/admin", "percent-encoded"),
        ("https://app.example.com/crm/..;/admin", "';' path parameters"),
        ("https://app.example.com/crm/x;jsessionid=1", "';' path parameters"),
        ("https://app.example.com@evil.net/crm/", "user name"),
        ("https://a:b@app.example.com/crm/", "user name"),
        ("javascript:alert(1)", "absolute http"),
        ("//app.example.com/crm/", "absolute http"),
        ("/crm/", "absolute http"),
        ("ftp://app.example.com/crm/", "absolute http"),
        ("https://app.example.com/crm/\\evil", "backslashes"),
        ("https://app.example.com/crm/\tx", "control"),
        ("https://app.example.com:99999/crm/", "valid URL"),
        ("https://[::1/crm/", "valid URL"),
    ],
)
def test_refused(url, why):
    problem = return_url_problem(url, ALLOWED)
    assert problem is not None and why in problem, (url, problem)


def _as_a_server_reads(path: str, decodings: int) -> str:
    """`path` decoded `decodings` times, then resolved as lenient servers do: `\\` as `/`, `;...`
    path parameters dropped, `.` and `..` segments removed."""
    for _ in range(decodings):
        path = urllib.parse.unquote(path)
    resolved: list[str] = []
    for segment in path.replace("\\", "/").split("/")[1:]:
        segment = segment.split(";", 1)[0]
        if segment == "..":
            if resolved:
                resolved.pop()
        elif segment != ".":
            resolved.append(segment)
    return "/" + "/".join(resolved)


@given(st.text(alphabet="./\\%;25eEfFcCbB3ax", max_size=24))
@example("%252e%252e/admin")
@example("..;/admin")
@example("..%3b/admin")
@example("%25252e%25252e/admin")
@example(".%2e/admin")
def test_an_accepted_return_url_stays_under_its_prefix_however_often_it_is_decoded(suffix):
    # Given any path below an allowed prefix, made of the characters that build dot segments,
    # separators, path parameters and (multiple) percent-encodings of them
    url = "https://app.example.com/crm/" + suffix
    if return_url_problem(url, ALLOWED) is not None:
        return
    # Then, accepted, it stays under /crm/ for a browser and for a server decoding it up to 3 times
    path = urllib.parse.urlsplit(url).path
    for decodings in range(4):
        assert _as_a_server_reads(path, decodings).startswith("/crm/"), (suffix, decodings)


def test_an_empty_allow_list_refuses_everything():
    assert "CONNECT_RETURN_URLS is empty" in (return_url_problem("https://app.example.com/", ()) or "")


def test_the_result_replaces_the_return_urls_own_result_parameters_and_keeps_the_rest():
    url = with_result(
        "https://app.example.com/crm/?tab=crm&status=connected&credentials_id=forged#top",
        {"provider": "hubspot", "error": "access_denied"},
    )
    assert url == "https://app.example.com/crm/?tab=crm&provider=hubspot&error=access_denied#top"


def test_the_state_is_stored_as_its_sha256():
    assert state_key("abc") == hashlib.sha256(b"abc").hexdigest()


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("access_denied", "access_denied"),
        ("consent_required", "consent_required"),
        ("access-denied", "access_denied"),  # Salesforce's web server flow example
        ("Access-Denied", "authorization_failed"),
        ("<script>", "authorization_failed"),
        ("", "authorization_failed"),
        ("a" * 65, "authorization_failed"),
    ],
)
def test_the_providers_error_is_passed_on_only_as_an_oauth_code(error, code):
    assert provider_error_code(error) == code
