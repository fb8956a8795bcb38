"""The vault's locks: API keys in their own read-only table, checked when read; scoped keys and
tokens on every route; reads that drop rows which are not what was asked for; and a bounded
cost for made-up keys."""

import json
import time
import uuid

import pytest
from integration_credentials.adapters.auth import api_key_id, hash_api_key
from integration_credentials.core.constants import ALL_SCOPES, SCOPE_READ, SCOPE_REFRESH, SCOPE_WRITE
from local_stack.template import ROOT, resources_of_type, routes

from tests.conftest import SEED_BODIES
from tests.integration.conftest import (
    FUNCTIONS,
    KEYLESS_FUNCTIONS,
    bearer,
    call_route,
    mint_key,
    reset_process_state,
)

FORBIDDEN = {"detail": "You do not have permission to access this resource"}
UNAUTHORIZED = {"detail": "Invalid or missing authentication credentials"}
ROUTE_SCOPES = {
    "create_credentials": SCOPE_WRITE,
    "update_credentials": SCOPE_WRITE,
    "delete_credentials": SCOPE_WRITE,
    "list_credentials": SCOPE_READ,
    "get_credentials": SCOPE_READ,
    "get_credentials_by_provider": SCOPE_READ,
    "refresh_credentials": SCOPE_REFRESH,
    "verify_credentials": SCOPE_READ,
    "connect_credentials": SCOPE_WRITE,
}
NOT_NEEDED = [
    (function, scope)
    for function in sorted(ROUTE_SCOPES)
    for scope in sorted(ALL_SCOPES - {ROUTE_SCOPES[function]})
]


def test_every_route_has_a_scope():
    # All but the OAuth callback, which takes no key (the state authenticates it).
    assert set(ROUTE_SCOPES) == set(FUNCTIONS) - KEYLESS_FUNCTIONS


def test_openapi_documents_the_scope_each_route_enforces():
    document = json.loads((ROOT / "openapi.json").read_text())
    for route in routes():
        function = route.code_uri.name
        # The template's collection path has no trailing slash; the seed's (documented) one does,
        # and the template spells it with a greedy variable (/integration-credentials/{proxy+}).
        path = route.path.removesuffix("/{proxy+}")
        path = path if path in document["paths"] else path + "/"
        security = document["paths"][path][route.method.lower()]["security"]
        if function in KEYLESS_FUNCTIONS:
            assert security == []
            continue
        assert security == [
            {"ApiKeyAuth": [ROUTE_SCOPES[function]]},
            {"BearerAuth": [ROUTE_SCOPES[function]]},
        ]


# ---- scopes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "scope"), NOT_NEEDED)
def test_a_key_with_only_another_scope_is_403_on_every_route(api, stack, org_id, function, scope):
    # Given a key minted with one scope the route does not need
    key = mint_key(stack, org_id, frozenset({scope}))
    # When it calls the route (with a body that would be invalid: the scope is checked first)
    reply = call_route(api, function, {"X-API-Key": key}, body=["not", "an", "object"])
    # Then it is refused with the seed's permission text
    assert (reply.status, reply.json) == (403, FORBIDDEN)


@pytest.mark.parametrize(("function", "scope"), NOT_NEEDED)
def test_a_token_whose_scope_claim_lacks_the_routes_scope_is_403(api, org_id, function, scope):
    reply = call_route(api, function, bearer(org_id, scope=scope))
    assert (reply.status, reply.json) == (403, FORBIDDEN)


@pytest.mark.parametrize("function", sorted(ROUTE_SCOPES))
def test_the_routes_own_scope_is_enough(api, stack, org_id, function):
    key = mint_key(stack, org_id, frozenset({ROUTE_SCOPES[function]}))
    reply = call_route(api, function, {"X-API-Key": key})
    assert reply.status != 403
    assert reply.status < 500


def test_a_token_without_a_scope_claim_may_do_everything(api, org_id):
    # Tokens made before scopes keep working (the seed's examples carry none).
    headers = bearer(org_id)
    created = api.create(headers, SEED_BODIES["hubspot"])
    assert created.status == 201
    assert api.get(headers, created.json["id"]).status == 200
    assert api.delete(headers, created.json["id"]).status == 200


def test_a_key_and_a_token_together_may_do_what_both_allow(api, stack, org_id):
    key = mint_key(stack, org_id, frozenset({SCOPE_READ, SCOPE_WRITE}))
    both = {"X-API-Key": key, **bearer(org_id, scope="credentials:read")}
    assert api.list(both).status == 200
    assert (
        api.create(both, SEED_BODIES["hubspot"]).status,
        api.create(both, SEED_BODIES["hubspot"]).json,
    ) == (
        403,
        FORBIDDEN,
    )


def test_a_read_only_key_reads_but_cannot_change(api, stack, org_id, org_headers):
    created = api.create(org_headers, SEED_BODIES["salesforce"]).json
    reader = {"X-API-Key": mint_key(stack, org_id, frozenset({SCOPE_READ}))}
    assert api.get(reader, created["id"]).json["access_token"] == SEED_BODIES["salesforce"]["access_token"]
    assert api.update(reader, created["id"], {"access_token": "stolen"}).status == 403
    assert api.delete(reader, created["id"]).status == 403
    assert (
        api.get(org_headers, created["id"]).json["access_token"] == SEED_BODIES["salesforce"]["access_token"]
    )


def test_a_refused_scope_is_audited_as_denied(api, stack, org_id, tmp_path, monkeypatch):
    audit_file = tmp_path / "audit.jsonl"
    monkeypatch.setenv("AUDIT_LOG_FILE", str(audit_file))
    key = mint_key(stack, org_id, frozenset({SCOPE_READ}))
    assert api.create({"X-API-Key": key}, SEED_BODIES["hubspot"]).status == 403
    record = json.loads(audit_file.read_text().splitlines()[-1])
    assert (record["status"], record["outcome"], record["reason"], record["org_id"]) == (
        403,
        "denied",
        "missing_scope",
        org_id,
    )


# ---- the keys table ----------------------------------------------------------------------------


def forged_records(org_id: str) -> dict[str, dict]:
    key_id = "0123456789abcdef"
    return {
        "org names an id mirror": {"org_id": {"S": f"ID#{uuid.uuid4()}"}, "key_id": {"S": key_id}},
        "org with a space": {"org_id": {"S": "acme corp"}, "key_id": {"S": key_id}},
        "org is a number": {"org_id": {"N": "42"}, "key_id": {"S": key_id}},
        "no org": {"key_id": {"S": key_id}},
        "a credentials row's shape": {"id": {"S": str(uuid.uuid4())}, "provider": {"S": "salesforce"}},
        "unknown scope": {
            "org_id": {"S": org_id},
            "key_id": {"S": key_id},
            "scopes": {"SS": ["credentials:admin"]},
        },
        "key id that is not one": {"org_id": {"S": org_id}, "key_id": {"S": "admin"}},
    }


@pytest.mark.parametrize("case", sorted(forged_records("x")))
def test_a_forged_key_record_is_refused_logged_and_counted(api, stack, org_id, captured_logs, capsys, case):
    # Given a record written into the keys table by something other than the admin CLI
    key = "sk_live_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    item = {"key_hash": {"S": hash_api_key(key)}, **forged_records(org_id)[case]}
    stack.dynamodb.put_item(TableName=stack.resources.api_keys_table_name, Item=item)
    reset_process_state()
    # When the key is presented
    reply = api.list({"X-API-Key": key})
    # Then it is an invalid key, and an operator is told
    assert (reply.status, reply.json) == (401, UNAUTHORIZED)
    logs = captured_logs.getvalue()
    assert "API key record refused" in logs
    assert api_key_id(hash_api_key(key)) in logs
    assert '"InvalidApiKeyRecord":[1.0]' in capsys.readouterr().out  # the metric, flushed as EMF


def test_the_admin_cli_refuses_to_write_an_invalid_org(stack):
    from credentials_admin.cli import create_api_key
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

    repository = ApiKeyRepository(stack.resources.api_keys_table_name, stack.dynamodb)
    for org_id in ("ID#abc", "", "a b", "x" * 200):
        with pytest.raises(ValueError, match="org_id"):
            create_api_key(repository, org_id)


def function_statements(function: dict) -> list[dict]:
    """A function's own statements and those of the template's managed policies it attaches."""
    managed = resources_of_type("AWS::IAM::ManagedPolicy")
    statements = []
    for policy in function["Properties"].get("Policies", []):
        if isinstance(policy, dict) and "Ref" in policy:
            statements += managed[policy["Ref"]]["Properties"]["PolicyDocument"]["Statement"]
        else:
            statements += policy.get("Statement", [])
    return statements


def test_no_function_may_write_the_keys_table():
    statements = [
        (name, statement)
        for name, function in resources_of_type("AWS::Serverless::Function").items()
        for statement in function_statements(function)
        if "ApiKeysTable" in json.dumps(statement.get("Resource"))
    ]
    # Every API function reads it to authenticate its caller, except the keyless OAuth callback.
    assert {name for name, _ in statements} == {route.function for route in routes()} - {
        "OAuthCallbackFunction"
    }
    for name, statement in statements:
        assert statement["Action"] in ("dynamodb:GetItem", ["dynamodb:GetItem"]), name
    # No statement grants anything on every table either.
    for function in resources_of_type("AWS::Serverless::Function").values():
        for statement in function_statements(function):
            assert statement.get("Resource") != "*" or not str(statement["Action"]).startswith("dynamodb")


def test_made_up_keys_cost_one_read_each(api, stack):
    # Given a cold instance
    reset_process_state()
    made_up = ["sk_live_" + uuid.uuid4().hex + uuid.uuid4().hex[:8] for _ in range(3)]
    stack.aws.reset_calls()
    # When each made-up key is tried 20 times
    for key in made_up:
        for _ in range(20):
            assert api.list({"X-API-Key": key}).status == 401
    # Then the keys table was read once per key, not once per request
    assert stack.aws.calls()[("dynamodb", "GetItem")] == len(made_up)


def test_an_unknown_key_is_forgotten_after_the_negative_ttl(api, stack, org_id, tuned):
    tuned(API_KEY_NEGATIVE_CACHE_SECONDS="1")
    reset_process_state()
    key = "sk_live_" + uuid.uuid4().hex + uuid.uuid4().hex[:8]
    assert api.list({"X-API-Key": key}).status == 401
    # The key is minted afterwards (a key is 238 random bits: only a test can do this)
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

    key_hash = hash_api_key(key)
    ApiKeyRepository(stack.resources.api_keys_table_name, stack.dynamodb).add(
        key_hash, api_key_id(key_hash), org_id, "2026-01-01T00:00:00.000000Z"
    )
    assert api.list({"X-API-Key": key}).status == 401
    time.sleep(1.1)
    assert api.list({"X-API-Key": key}).status == 200


# ---- reads drop rows that are not what was asked for --------------------------------------------


def forged_row(org_id: str, provider: str, credentials_id: str, **extra: dict) -> dict:
    return {
        "org_id": {"S": org_id},
        "provider": {"S": provider},
        "id": {"S": credentials_id},
        "version": {"N": "1"},
        "created_at": {"S": "2026-01-01T00:00:00.000000Z"},
        "updated_at": {"S": "2026-01-01T00:00:00.000000Z"},
        "ciphertext": {"B": b"not a message"},
        **extra,
    }


def test_list_drops_and_reports_a_row_owned_by_another_org(api, stack, org_id, org_headers, captured_logs):
    # Given the caller's own credentials, and a row in its partition that names another owner
    own = api.create(org_headers, SEED_BODIES["hubspot"]).json
    stack.dynamodb.put_item(
        TableName=stack.resources.table_name,
        Item=forged_row(org_id, "salesforce", str(uuid.uuid4()), owner_org_id={"S": "victim-org"}),
    )
    # When it lists and reads by provider
    listed = api.list(org_headers)
    by_provider = api.get_by_provider(org_headers, "salesforce")
    # Then only its own credentials are shown, and the forged row is reported
    assert listed.status == 200
    assert [item["id"] for item in listed.json] == [own["id"]]
    assert by_provider.status == 404
    assert captured_logs.getvalue().count("integrity check failed") >= 2


def test_a_by_id_read_drops_a_mirror_that_names_another_id(api, stack, org_id, org_headers, captured_logs):
    asked, named = str(uuid.uuid4()), str(uuid.uuid4())
    stack.dynamodb.put_item(
        TableName=stack.resources.table_name,
        Item=forged_row(
            f"ID#{asked}",
            "ID",
            named,
            owner_org_id={"S": org_id},
            owner_provider={"S": "salesforce"},
        ),
    )
    for reply in (
        api.get(org_headers, asked),
        api.update(org_headers, asked, {"dsn": "x"}),
        api.delete(org_headers, asked),
    ):
        assert (reply.status, reply.json) == (404, {"detail": f"Integration credentials {asked} not found"})
    assert "a row read by id names another id" in captured_logs.getvalue()


def test_the_http_api_throttles_every_route_by_default():
    # A flood of made-up keys is bounded twice: one read per key (above), and the stage's rate.
    settings = resources_of_type("AWS::Serverless::HttpApi")["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert 0 < settings["ThrottlingRateLimit"] <= 10_000
    assert 0 < settings["ThrottlingBurstLimit"] <= 5_000
