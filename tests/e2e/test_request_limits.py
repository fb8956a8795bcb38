"""API Gateway's quota on the request line and header values, on the local stack: a 60 KB OAuth
callback query (what an independent fuzz run sent) is a JSON 414, not a dropped connection.
The limits themselves: tests/tools/test_gateway_request_limits.py."""

from .conftest import BASE, Api


def test_a_60_kb_oauth_callback_query_is_a_json_414(api: Api) -> None:
    reply = api.get(f"{BASE}/oauth/callback?code=fuzz&state=" + "s" * 60_000)
    assert reply.status == 414, reply.text
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"message": "Request-URI Too Long"}


def test_header_values_over_the_quota_are_a_json_431(api: Api) -> None:
    reply = api.get(f"{BASE}/", {"X-Filler": "f" * 12_000})
    assert reply.status == 431, reply.text
    assert reply.json() == {"message": "Request Header Fields Too Large"}
