"""A connect link is bound to the person it was made for, and an org has a bounded number of them.

Step 1 takes an `end_user`; the callback's 303 carries `connect_result`, the outcome signed with
the deployment's key (SSM CONNECT_RESULT_KEY_PARAMETER), naming the end user and the link's state
hash, which a return page verifies with `verify_connect_result` against its own session. An org
has at most MAX_CONNECT_STATES_PER_ORG links in progress: the next step 1 is a 429."""

import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fake_crms import FakeCrms
from integration_credentials.adapters.parameters import clear_parameter_cache
from integration_credentials.adapters.storage.connect_states import slot_key
from integration_credentials.core import settings
from integration_credentials.logic import connect
from integration_credentials.policy.connect_result import (
    ConnectResultError,
    sign_connect_result,
    verify_connect_result,
)

from tests.integration.conftest import Stack, mint_key
from tests.integration.connect_flow import callback, fake_crms, landed, query_of, start

TOO_MANY = (
    "The organization already has the maximum of {} connect links in progress; "
    "retry when one is used or expires"
)


@pytest.fixture(scope="module")
def crms(stack: Stack) -> Iterator[FakeCrms]:
    yield from fake_crms(stack)


@pytest.fixture(scope="module")
def result_key(stack: Stack) -> str:
    """What the platform's backend reads to verify results (its own SSM parameter)."""
    ssm = boto3.client("ssm", endpoint_url=stack.aws.endpoint)
    name = os.environ["CONNECT_RESULT_KEY_PARAMETER"]
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


@pytest.fixture
def limit(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set MAX_CONNECT_STATES_PER_ORG for one test (the connector is rebuilt with it)."""

    def set_limit(value: int) -> None:
        monkeypatch.setenv("MAX_CONNECT_STATES_PER_ORG", str(value))
        settings.get_settings.cache_clear()
        connect.connector.cache_clear()

    yield set_limit
    monkeypatch.undo()
    settings.get_settings.cache_clear()
    connect.connector.cache_clear()


# ---- the signed result --------------------------------------------------------------------------


@pytest.mark.parametrize("allow", [True, False])
def test_the_redirect_carries_the_outcome_signed_for_the_end_user_and_the_link(
    api, crms, org_id, org_headers, result_key, allow
):
    # Given a link made for the platform's user "user-42"
    started = start(api, org_headers, "hubspot", end_user="user-42")
    assert started.status == 201, started.raw
    state_hash = started.json["state_hash"]
    # When that user consents (or refuses) and the browser comes back
    location = crms.consent(started.json["connect_url"], allow=allow)
    back = landed(callback(api, location))
    # Then the return page can verify the outcome against its session: this user, this link
    result = verify_connect_result(
        back["connect_result"], result_key, end_user="user-42", state_hash=state_hash
    )
    assert (result.org_id, result.provider, result.end_user) == (org_id, "hubspot", "user-42")
    assert abs(result.issued_at - time.time()) < 60
    if allow:
        assert (result.status, result.error) == ("connected", None)
        assert result.credentials_id == back["credentials_id"]
    else:
        assert (result.status, result.error, result.credentials_id) == (None, "access_denied", None)
    # ...and the plain parameters say the same (the page may show them once verified)
    assert back.get("status") == result.status and back.get("error") == result.error


def test_a_link_finished_in_another_users_browser_is_refused_by_the_return_page(
    api, crms, org_headers, result_key
):
    # Given a link made for alice that mallory's browser finishes (he was sent the link)
    started = start(api, org_headers, "pipedrive", end_user="alice")
    back = landed(callback(api, crms.consent(started.json["connect_url"])))
    # When mallory's session (end user "mallory") checks the result, then it is refused
    with pytest.raises(ConnectResultError, match="another end user"):
        verify_connect_result(
            back["connect_result"], result_key, end_user="mallory", state_hash=started.json["state_hash"]
        )
    # ...and so it is for a session that started another link
    other = start(api, org_headers, "zoho", end_user="alice")
    with pytest.raises(ConnectResultError, match="another connect link"):
        verify_connect_result(
            back["connect_result"], result_key, end_user="alice", state_hash=other.json["state_hash"]
        )


def test_parameters_typed_by_hand_carry_no_result_that_verifies(api, crms, org_headers, result_key):
    # A return URL cannot pre-set a result: the callback replaces its connect_result.
    started = start(
        api,
        org_headers,
        "salesforce",
        return_url="https://app.example.com/crm/connected?connect_result=forged&status=connected",
        end_user="user-1",
    )
    back = landed(callback(api, crms.consent(started.json["connect_url"])))
    assert back["connect_result"] != "forged"
    verify_connect_result(
        back["connect_result"], result_key, end_user="user-1", state_hash=started.json["state_hash"]
    )
    # A result signed with anything but the deployment's key is refused.
    for forged in ("forged", back["connect_result"][:-4] + "AAAA"):
        with pytest.raises(ConnectResultError):
            verify_connect_result(
                forged, result_key, end_user="user-1", state_hash=started.json["state_hash"]
            )
    other_key = "not-the-deployment-key-0123456789abcdef"
    result = verify_connect_result(
        back["connect_result"], result_key, end_user="user-1", state_hash=started.json["state_hash"]
    )
    with pytest.raises(ConnectResultError):
        verify_connect_result(
            sign_connect_result(result, other_key),
            result_key,
            end_user="user-1",
            state_hash=result.state_hash,
        )


@pytest.mark.parametrize(
    "end_user",
    ["", "x" * 257, "two words", "caf\u00e9", "tab\there", 42, ["user"], None],
)
def test_an_end_user_that_is_not_a_bounded_printable_id_is_400(api, org_headers, end_user):
    body: dict[str, Any] = {"end_user": end_user}
    reply = start(api, org_headers, "hubspot", **body)
    if end_user is None:
        assert reply.status == 201  # null is the same as absent
        return
    assert reply.status == 400, reply.raw
    assert "end_user" in reply.json["detail"]


def test_the_end_user_is_stored_only_encrypted(api, stack, org_headers, captured_logs):
    end_user = "platform-user-" + uuid.uuid4().hex
    assert start(api, org_headers, "hubspot", end_user=end_user).status == 201
    states = boto3.client("dynamodb", endpoint_url=stack.aws.endpoint).scan(
        TableName=stack.resources.refs["ConnectStatesTable"]
    )["Items"]
    assert end_user not in json.dumps(states, default=str)
    assert end_user not in captured_logs.getvalue()


def test_the_result_key_unreadable_at_the_callback_is_503_and_consumes_nothing(api, stack, crms, org_headers):
    started = start(api, org_headers, "hubspot", end_user="user-7")
    location = crms.consent(started.json["connect_url"])
    clear_parameter_cache()
    stack.aws.fail("ssm", "InternalServerError", 500)
    try:
        reply = callback(api, location)
    finally:
        stack.aws.heal()
    assert reply.status == 503 and reply.headers.get("Retry-After")
    assert api.list(org_headers).json == []
    # Nothing was consumed: the same redirect works once SSM answers
    assert landed(callback(api, location))["status"] == "connected"


# ---- at most N links in progress per org --------------------------------------------------------


def test_an_org_at_its_limit_gets_429_until_a_link_is_used(
    api, stack, crms, org_headers, other_org_headers, limit
):
    # Given an org with the maximum of 3 links in progress
    limit(3)
    links = [start(api, org_headers, provider) for provider in ("hubspot", "zoho", "salesforce")]
    assert [link.status for link in links] == [201, 201, 201]
    # When it asks for one more, then 429 with Retry-After (until the earliest expires), and no KMS
    stack.aws.reset_calls()
    refused = start(api, org_headers, "pipedrive")
    assert refused.status == 429, refused.raw
    assert refused.json == {"detail": TOO_MANY.format(3)}
    assert 1 <= int(refused.headers["Retry-After"]) <= 600
    assert not [call for call in stack.aws.calls() if call[0] == "kms"]
    # ...while another org is not affected
    assert start(api, other_org_headers, "pipedrive").status == 201
    # And once one of its links is used, the next one is made
    assert landed(callback(api, crms.consent(links[0].json["connect_url"])))["status"] == "connected"
    assert start(api, org_headers, "pipedrive").status == 201
    assert (
        start(api, org_headers, "dynamics", metadata={"instance_url": "https://x.crm.dynamics.com"}).status
        == 429
    )


def test_expired_links_free_their_slots_by_the_clock_not_by_ttl_deletion(
    api, stack, org_id, org_headers, limit
):
    # Given an org whose 2 slots are held by links that are still live
    limit(2)
    table = stack.resources.refs["ConnectStatesTable"]
    now = int(time.time())

    def hold_slots(expires_at: int) -> None:
        for index in range(2):
            stack.dynamodb.put_item(
                TableName=table,
                Item={
                    "state_hash": {"S": slot_key(org_id, index)},
                    "org_id": {"S": org_id},
                    "holder": {"S": f"{index:064x}"},
                    "expires_at": {"N": str(expires_at)},
                },
            )

    hold_slots(now + 120)
    refused = start(api, org_headers, "hubspot")
    assert refused.status == 429
    assert 100 <= int(refused.headers["Retry-After"]) <= 120
    # When their time has passed (the items are still there: TTL deletes late)
    hold_slots(now - 1)
    # Then the slots are free again
    assert start(api, org_headers, "hubspot").status == 201


def test_concurrent_links_of_one_org_beyond_the_limit_are_429_exactly(api, stack, org_id, limit):
    # Given an org allowed 3 links in progress, and 8 requests for one arriving at once
    limit(3)
    headers = {"X-API-Key": mint_key(stack, org_id)}
    barrier = threading.Barrier(8)
    replies: list[Any] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait()
        reply = start(api, headers, "hubspot")
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then exactly 3 get a link, the other 5 a 429
    assert sorted(reply.status for reply in replies) == [201] * 3 + [429] * 5, [r.raw for r in replies]
    assert len({query_of(r.json["connect_url"])["state"] for r in replies if r.status == 201}) == 3
    states = stack.dynamodb.scan(
        TableName=stack.resources.refs["ConnectStatesTable"],
        FilterExpression="org_id = :org AND attribute_exists(ciphertext)",
        ExpressionAttributeValues={":org": {"S": org_id}},
    )["Items"]
    assert len(states) == 3
