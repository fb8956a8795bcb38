"""fake_crms.salesforce_api: the fake Salesforce's query resource answers records for an access
token the fake issued while its session lives, and Salesforce's 401 INVALID_SESSION_ID once it
has expired or its grant was revoked, or for a token it never issued."""

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import fake_crms
import pytest
from fake_crms import Crm, FakeCrms, Received
from hypothesis import given, settings
from hypothesis import strategies as st
from integration_credentials.adapters.providers import OAuthClient, refresh

SEED_QUERY = "SELECT Name, Email, Company FROM Lead WHERE IsConverted = false"
SESSION_EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
REFRESH_TOKEN = "sf-refresh-token-for-the-api-tests"


@pytest.fixture(scope="module")
def crms():
    with FakeCrms(salesforce_org=True) as fake:
        fake.crms["salesforce"].grant(REFRESH_TOKEN)
        yield fake


def access_token(crms: FakeCrms, refresh_token: str = REFRESH_TOKEN) -> str:
    """A fresh access token, refreshed by the service's own provider code."""
    client = crms.clients["salesforce"]
    result = refresh(
        "salesforce",
        {"refresh_token": refresh_token},
        OAuthClient(client["client_id"], client["client_secret"]),
        token_url=crms.token_url("salesforce"),
    )
    assert result.metadata_updates == {"instance_url": crms.instance_url}
    return result.access_token


def query(base: str, soql: str, token: str | None, *, scheme: str = "Bearer") -> tuple[int, Any]:
    url = f"{base}/services/data/v58.0/query?" + urllib.parse.urlencode({"q": soql})
    headers = {"Authorization": f"{scheme} {token}"} if token is not None else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


def test_a_live_token_reads_the_seed_scripts_leads_in_salesforces_shape(crms):
    # Given an access token the fake Salesforce issued, and its org's URL from the token answer
    token = access_token(crms)
    # When the seed's integration script queries the open leads there
    status, body = query(crms.instance_url, SEED_QUERY, token)
    # Then the answer is Salesforce's: totalSize, done, records with attributes and the fields asked
    assert status == 200
    assert body["totalSize"] == len(body["records"]) == 2 and body["done"] is True
    assert body["records"][0] == {
        "attributes": {"type": "Lead", "url": "/services/data/v58.0/sobjects/Lead/00Q000000000001FAK"},
        "Name": "Ada Lovelace",
        "Email": "ada@analytical.example",
        "Company": "Analytical Engines",
    }
    # Salesforce's other Authorization scheme, a LIMIT, another object
    status, body = query(crms.instance_url, "select name from contact limit 1", token, scheme="OAuth")
    assert (status, [record["Name"] for record in body["records"]]) == (200, ["Katherine Johnson"])


def test_an_expired_session_answers_401_until_a_refresh_mints_a_live_one(crms):
    # Given two live tokens of the grant
    first, second = access_token(crms), access_token(crms)
    assert query(crms.instance_url, SEED_QUERY, first)[0] == 200
    # When the first one's session expires at the fake
    assert crms.expire("salesforce", first) == 1
    assert crms.expire("salesforce", first) == 0  # already over
    # Then the API refuses it as Salesforce does, and still answers the other one
    assert query(crms.instance_url, SEED_QUERY, first) == (401, SESSION_EXPIRED)
    assert query(crms.instance_url, SEED_QUERY, second)[0] == 200
    # And once every session is over, only a refreshed token reads again
    assert crms.expire("salesforce") >= 1
    assert query(crms.instance_url, SEED_QUERY, second) == (401, SESSION_EXPIRED)
    assert query(crms.instance_url, SEED_QUERY, access_token(crms))[0] == 200
    assert crms.api_calls("salesforce")[-4:] == [401, 200, 401, 200]


@pytest.mark.parametrize(
    "token, scheme",
    [(None, "Bearer"), ("never-issued-by-the-fake", "Bearer"), ("", "Bearer"), ("x", "Basic")],
)
def test_a_token_the_fake_never_issued_is_an_invalid_session(crms, token, scheme):
    assert query(crms.instance_url, SEED_QUERY, token, scheme=scheme) == (401, SESSION_EXPIRED)


def test_the_tokens_of_a_revoked_grant_stop_working():
    # Given Salesforce's refresh token rotation: replaying a used refresh token revokes the chain
    with FakeCrms(salesforce_rotation=True, salesforce_org=True) as crms:
        crms.crms["salesforce"].grant(REFRESH_TOKEN)
        token = access_token(crms)
        assert query(crms.instance_url, SEED_QUERY, token)[0] == 200
        # When the used refresh token is replayed
        with pytest.raises(Exception, match="revoked"):
            access_token(crms)
        # Then the chain's access tokens are dead too
        assert query(crms.instance_url, SEED_QUERY, token) == (401, SESSION_EXPIRED)


@pytest.mark.parametrize(
    "soql, status, code",
    [
        ("", 400, "MALFORMED_QUERY"),
        ("DELETE FROM Lead", 400, "MALFORMED_QUERY"),
        ("SELECT Name FROM Lead WHERE Name LIKE 'A%'", 400, "MALFORMED_QUERY"),
        ("SELECT Name FROM Opportunity", 400, "INVALID_TYPE"),
        ("SELECT Salary FROM Lead", 400, "INVALID_FIELD"),
    ],
)
def test_a_query_the_fake_cannot_answer_is_refused_in_salesforces_shape(crms, soql, status, code):
    answered, body = query(crms.instance_url, soql, access_token(crms))
    assert answered == status
    assert [error["errorCode"] for error in body] == [code] and body[0]["message"]


def test_the_token_answers_name_the_fake_as_the_org_only_when_asked():
    with FakeCrms() as crms:
        crms.crms["salesforce"].grant(REFRESH_TOKEN)
        client = crms.clients["salesforce"]
        result = refresh(
            "salesforce",
            {"refresh_token": REFRESH_TOKEN},
            OAuthClient(client["client_id"], client["client_secret"]),
            token_url=crms.token_url("salesforce"),
        )
        assert result.metadata_updates == {"instance_url": "https://mycompany.my.salesforce.com"}
        # The query resource is there all the same
        assert query(crms.instance_url, SEED_QUERY, result.access_token)[0] == 200


def test_one_salesforce_alone_answers_at_the_documented_path_and_the_others_have_no_api():
    crm = Crm("salesforce")
    crm.grant(REFRESH_TOKEN)
    with fake_crms.serve(crm) as server:
        crm.instance_url = server.base_url
        token = refresh(
            "salesforce",
            {"refresh_token": REFRESH_TOKEN},
            OAuthClient(crm.client["client_id"], crm.client["client_secret"]),
            token_url=server.url("/services/oauth2/token"),
        ).access_token
        assert query(server.base_url, SEED_QUERY, token)[0] == 200
    hubspot = Crm("hubspot")
    reply = hubspot(Received("GET", "/services/data/v58.0/query", {"q": [SEED_QUERY]}, {}, b""))
    assert reply.status == 404


def test_only_get_reads(crms):
    token = access_token(crms)
    received = Received(
        "POST", "/salesforce/services/data/v58.0/query", {}, {"authorization": f"Bearer {token}"}, b""
    )
    reply = crms(received)
    assert reply.status == 405 and reply.body[0]["errorCode"] == "METHOD_NOT_ALLOWED"


@settings(max_examples=200, deadline=None)
@given(soql=st.text(max_size=200))
def test_any_query_text_is_answered_or_refused_never_a_crash(soql):
    crm = Crm("salesforce")
    crm.ledger.add_session("live-token", None, 3600)
    received = Received(
        "GET", "/services/data/v58.0/query", {"q": [soql]}, {"authorization": "Bearer live-token"}, b""
    )
    reply = crm(received)
    assert reply.status in (200, 400)
    if reply.status == 400:
        assert reply.body[0]["errorCode"] in ("MALFORMED_QUERY", "INVALID_TYPE", "INVALID_FIELD")
