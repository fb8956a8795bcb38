"""Hostile input to the connect flow, generated (Hypothesis): every connect body gets a 201 or a
4xx with a `detail`, never a 5xx; a 201's URL goes to the provider's host (or the configured
override) only; every callback query gets a 303 to an allowed return URL or a 400, and a state
nobody issued consumes nothing and stores nothing."""

import json
import urllib.parse
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from integration_credentials.policy.connect import allow_list, return_url_problem

from tests.integration.conftest import CONNECT_RETURN_URLS, Stack

EXAMPLES = settings(
    # Derandomized: the same examples every run, beside the explicit hostile classics (@example).
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
PROVIDERS = ["salesforce", "hubspot", "pipedrive", "zoho", "dynamics", "my-crm", "Salesforce", ""]
URL_PARTS = st.sampled_from(
    [
        "https://app.example.com/crm/",
        "https://app.example.com",
        "http://127.0.0.1:",
        "https://evil.example.net/",
        "javascript:",
        "//",
        "https://app.example.com@",
        "https://app.example.com/crm/../",
        "\\\\",
        "%2e%2e/",
        "\ud800",
        "\x00",
        " ",
    ]
)
return_urls = st.one_of(
    st.text(max_size=60),
    st.builds(lambda head, tail: head + tail, URL_PARTS, st.text(max_size=40)),
    st.builds(lambda a, b, c: a + b + c, URL_PARTS, URL_PARTS, st.text(max_size=20)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
bodies = st.fixed_dictionaries(
    {"provider": st.sampled_from(PROVIDERS), "return_url": return_urls},
    optional={
        "scopes": st.one_of(st.lists(st.text(max_size=12), max_size=4), json_values),
        "optional_scopes": st.one_of(st.lists(st.text(max_size=12), max_size=3), json_values),
        "metadata": st.one_of(
            st.fixed_dictionaries(
                {},
                optional={
                    "login_url": return_urls,
                    "tenant_id": st.text(max_size=40),
                    "instance_url": return_urls,
                    "data_center": st.text(max_size=10),
                    "client_id": st.text(max_size=10),
                },
            ),
            json_values,
        ),
        "credentials_id": st.one_of(st.uuids().map(str), st.text(max_size=40), json_values),
    },
)


def to_text(value: Any) -> str:
    # ASCII escapes: lone surrogates travel as \\ud800, as a hostile client sends them.
    return json.dumps(value, ensure_ascii=True)


@EXAMPLES
@given(body=bodies)
@example(body={"provider": "hubspot", "return_url": "https://app.example.com/crm/ok"})
@example(body={"provider": "hubspot", "return_url": "https://app.example.com/crm/\ud800"})
@example(
    body={
        "provider": "salesforce",
        "return_url": "https://app.example.com/crm/",
        "metadata": {"login_url": "x"},
    }
)
def test_every_connect_body_is_201_or_a_4xx_with_a_detail(api, org_headers, body):
    reply = api.call("connect_credentials", headers=org_headers, raw_body=to_text(body))
    assert reply.status in (201, 400, 404, 409), (reply.status, reply.raw)
    if reply.status != 201:
        assert isinstance(reply.json["detail"], str) and reply.json["detail"]
        return
    # A 201 only for an allowed return URL, and its URL goes to the provider (here: the fakes'
    # override, if a test set one, else the provider's own host), with our state.
    assert return_url_problem(body["return_url"], allow_list(CONNECT_RETURN_URLS)) is None
    url = urllib.parse.urlsplit(reply.json["connect_url"])
    assert url.scheme in ("https", "http")
    query = dict(urllib.parse.parse_qsl(url.query))
    assert len(query["state"]) >= 43
    assert body["return_url"] not in reply.json["connect_url"]


callback_values = st.one_of(st.text(max_size=80), st.sampled_from(["", "A" * 43, "access_denied", "\ud800"]))
queries = st.dictionaries(
    st.sampled_from(["state", "code", "error", "error_description", "accounts-server", "location", "x"]),
    callback_values,
    max_size=6,
)


@EXAMPLES
@given(query=queries)
@example(query={"state": "A" * 43, "code": "c"})
@example(query={"state": "A" * 43, "error": "access_denied"})
def test_every_callback_query_without_a_live_state_is_400_and_stores_nothing(api, stack: Stack, query):
    before = len(stack.scan())
    reply = api.call("oauth_callback", headers={}, query=query)
    assert reply.status == 400, (reply.status, reply.raw)
    assert "Location" not in reply.headers
    assert isinstance(reply.json["detail"], str)
    assert len(stack.scan()) == before
