"""Fuzzed contract: Schemathesis drives the session's stack from the committed openapi.json.

Authenticated as one org (an API key minted with the admin CLI), each operation gets its explicit
examples, Schemathesis' coverage cases and a bounded number of generated cases (positive and
negative), with a fixed seed. Every response must be no 5xx, a documented status code with a body
and headers that match the document, and hold nothing of another org.

Tenancy: before fuzzing, a second org stores credentials (and an Idempotency-Key). The generated
requests are steered at that org's data now and then: its credentials id in the path, its provider
in the path and in create bodies, its Idempotency-Key. Afterwards its credentials must read back
byte for byte the same (body and ETag), and no fuzz response may contain any of its secrets.
"""

import json
import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import strategies as st

from tests.e2e.conftest import BASE, ROOT, Api, Org, RunningStack, mint_api_key

OPENAPI_PATH = ROOT / "openapi.json"
MAX_EXAMPLES = 100
SEED = 20_261_124
OTHER_PROVIDER = "salesforce"
OWN_PROVIDERS = ("zoho", "dynamics")  # the fuzzing org's, for GET and PUT to find
DELETABLE_PROVIDER = "custom"  # the fuzzing org's, for DELETE to find
PROVIDER_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass
class Tenancy:
    """The fuzzing org, its own credentials, and the other org whose data must stay out of reach."""

    org: Org
    own_ids: list[str]
    deletable_id: str
    other: Org
    other_id: str
    other_idempotency_key: str
    other_body: bytes
    other_etag: str
    other_secrets: set[str]
    # (method, path template, status, aimed at the other org's id) of every fuzz case
    calls: list[tuple[str, str, int, bool]] = field(default_factory=list)


def _secret(label: str) -> str:
    return f"{label}-{secrets.token_urlsafe(18)}"


def _new_org(stack: RunningStack) -> Org:
    org_id = str(uuid.uuid4())
    return Org(org_id, mint_api_key(stack, org_id))


@pytest.fixture(scope="module")
def tenancy(stack: RunningStack, api: Api) -> Iterator[Tenancy]:
    """Creates both orgs' credentials before the first fuzz case; the hooks read it from CURRENT."""
    fuzzer = _new_org(stack)
    other = _new_org(stack)

    other_request = {
        "provider": OTHER_PROVIDER,
        "dsn": _secret("https://other-org.example/dsn"),
        "access_token": _secret("other-org-token"),
        "metadata": {"refresh_token": _secret("other-org-refresh"), "nested": {"api_key": _secret("other")}},
    }
    idempotency_key = "other-org-" + secrets.token_hex(8)
    created = api.post(f"{BASE}/", {**other.key, "Idempotency-Key": idempotency_key}, json=other_request)
    assert created.status_code == 201, created.text
    other_id = created.json()["id"]
    read = api.get(f"{BASE}/{other_id}", other.key)
    assert read.status_code == 200, read.text

    own_ids = []
    for provider in (*OWN_PROVIDERS, DELETABLE_PROVIDER):
        own = api.create(
            fuzzer.key,
            {"provider": provider, "dsn": f"https://{provider}.example", "access_token": _secret(provider)},
        )
        own_ids.append(own["id"])

    CURRENT["tenancy"] = Tenancy(
        org=fuzzer,
        own_ids=own_ids[:-1],
        deletable_id=own_ids[-1],
        other=other,
        other_id=other_id,
        other_idempotency_key=idempotency_key,
        other_body=read.content,
        other_etag=read.headers["ETag"],
        other_secrets={
            other_request["dsn"],
            other_request["access_token"],
            other_request["metadata"]["refresh_token"],
            other_request["metadata"]["nested"]["api_key"],
        },
    )
    tenancy = CURRENT["tenancy"]
    yield tenancy
    CURRENT.clear()
    # After every test of the module that ran here, whatever their order: the other org's data is
    # as it was, and the fuzzing aimed at the other org's id.
    assert_other_org_untouched(api, tenancy)


# Schemathesis' default, and API Gateway's 414 and 431: a schema-valid query or header set can still
# be over its 10,240 bytes of request line and header values (the callback's four long parameters).
POSITIVE_EXPECTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx", "414", "431"]
# Schemathesis' default rejections, and the same two of API Gateway's (a rejection too).
NEGATIVE_EXPECTED = ["400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]
NEGATIVE_EXPECTED += ["414", "431"]


def _positive_also(operation_id: str, *statuses: str) -> dict[str, Any]:
    """`positive_data_acceptance` for one operation, also accepting `statuses`."""
    expected = [*POSITIVE_EXPECTED, *statuses]
    return {
        "include-operation-id": operation_id,
        "checks": {"positive_data_acceptance": {"expected-statuses": expected}},
    }


# The schema is loaded when the module is imported (one test per operation); what only the
# session's stack knows (its URL, the orgs, their ids) is filled in by the `tenancy` fixture.
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "request-timeout": 30,
        "generation": {
            "mode": "all",
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "no-shrink": True,
            "database": "none",
            # The fuzzing org's key is sent with every request: no generated X-API-Key/Authorization.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # What the contract demands, named so that a change of Schemathesis' defaults cannot
            # drop them: no 5xx; documented statuses, content types, bodies and headers; invalid
            # input rejected, valid input accepted; no success without credentials.
            **{
                name: {"enabled": True}
                for name in (
                    "not_a_server_error",
                    "status_code_conformance",
                    "content_type_conformance",
                    "response_schema_conformance",
                    "response_headers_conformance",
                    "negative_data_rejection",
                    "positive_data_acceptance",
                    "ignored_auth",
                )
            },
            "positive_data_acceptance": {"enabled": True, "expected-statuses": POSITIVE_EXPECTED},
            "negative_data_rejection": {"enabled": True, "expected-statuses": NEGATIVE_EXPECTED},
            # API Gateway (and so the local stack) answers a method no route declares with its
            # own 404 {"message": "Not Found"}, not 405: the functions never see such a request.
            "unsupported_method": {"enabled": False},
        },
        "operations": [
            # If-Match can name a version the credentials no longer have (412).
            _positive_also("updateCredentials", "412"),
            _positive_also("deleteCredentials", "412"),
            # A schema-valid state is a live one only by a 2^-256 chance: the documented 400.
            _positive_also("oauthCallback", "400"),
            # The return URL's allow-list and what each provider's hints may be are deployment
            # and provider rules a JSON schema cannot state (documented 400s, each naming why).
            _positive_also("connectCredentials", "400"),
            # With ?verify=true a schema-valid token can still be one the CRM refuses (or one no
            # CRM could accept, such as non-ASCII): the documented 400 naming the CRM's refusal.
            _positive_also("createCredentials", "400"),
        ],
    }
)
schema = schemathesis.openapi.from_path(OPENAPI_PATH, config=CONFIG)
CURRENT: dict[str, Tenancy] = {}


def _tenancy() -> Tenancy | None:
    # None while pytest collects (Schemathesis draws the explicit examples then): nothing to aim at.
    return CURRENT.get("tenancy")


def _sometimes(value: Any, aimed: list[Any]) -> Any:
    """The generated value about half of the time, else one of `aimed`."""
    return st.sampled_from([value] * len(aimed) + aimed)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


# Values are only swapped where the generated one is valid: a negative case keeps its mutation.
@schema.hook("flatmap_path_parameters")
def _aim_path(context: Any, parameters: Any) -> Any:
    tenancy = _tenancy()
    if tenancy is None:
        return st.just(parameters)
    if isinstance(parameters, dict) and _is_uuid(parameters.get("credentials_id")):
        deleting = context.operation.method.upper() == "DELETE"
        ids = [tenancy.other_id, *([tenancy.deletable_id] if deleting else tenancy.own_ids)]
        return _sometimes(parameters, [{**parameters, "credentials_id": value} for value in ids])
    if isinstance(parameters, dict) and PROVIDER_RE.fullmatch(str(parameters.get("provider"))):
        providers = [OTHER_PROVIDER, *OWN_PROVIDERS]
        return _sometimes(parameters, [{**parameters, "provider": value} for value in providers])
    return st.just(parameters)


@schema.hook("flatmap_headers")
def _aim_headers(context: Any, headers: Any) -> Any:
    # The other org's Idempotency-Key: keys are per org, so it must not replay the other's create.
    tenancy = _tenancy()
    if tenancy is None or context.operation.method.upper() != "POST" or not isinstance(headers or {}, dict):
        return st.just(headers)
    current = (headers or {}).get("idempotency-key")
    if current is not None and not IDEMPOTENCY_KEY_RE.fullmatch(str(current)):
        return st.just(headers)
    return _sometimes(headers, [{**(headers or {}), "idempotency-key": tenancy.other_idempotency_key}])


@schema.hook("flatmap_body")
def _aim_body(context: Any, body: Any) -> Any:
    # The other org's provider: creating it must be the fuzzing org's own (201, or 409 once it has it).
    if (
        _tenancy() is not None
        and context.operation.method.upper() == "POST"
        and isinstance(body, dict)
        and PROVIDER_RE.fullmatch(str(body.get("provider")))
    ):
        return _sometimes(body, [{**body, "provider": OTHER_PROVIDER}])
    return st.just(body)


def _org_ids(payload: Any) -> list[Any]:
    if isinstance(payload, dict) and "org_id" in payload:
        return [payload["org_id"]]
    if isinstance(payload, list):
        return [item.get("org_id") for item in payload if isinstance(item, dict)]
    return []


@schema.parametrize()
def test_fuzzed_contract(case: Any, stack: RunningStack, tenancy: Tenancy) -> None:
    response = case.call_and_validate(base_url=stack.base_url, headers=tenancy.org.key)
    text = response.text + json.dumps(dict(response.headers))
    leaked = [value for value in tenancy.other_secrets if value in text]
    assert not leaked, f"{case.method} {case.formatted_path} returned another org's secrets"
    if 200 <= response.status_code < 300:
        try:
            payload = response.json()
        except ValueError:
            payload = None
        assert set(_org_ids(payload)) <= {tenancy.org.org_id}, (case.method, case.formatted_path, payload)
    aimed_at_other = (case.path_parameters or {}).get("credentials_id") == tenancy.other_id
    if aimed_at_other:
        # Another org's id: refused (403), or rejected before it is looked up (400, 413, 415).
        assert response.status_code in {400, 403, 413, 415}, (
            case.method,
            response.status_code,
            response.text,
        )
    tenancy.calls.append((case.method, case.path, response.status_code, aimed_at_other))


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_body_not_utf8_is_400(method: str, stack: RunningStack, tenancy: Tenancy) -> None:
    path = f"{BASE}/" if method == "POST" else f"{BASE}/{uuid.uuid4()}"
    response = requests.request(
        method,
        stack.base_url + path,
        headers={**tenancy.org.key, "Content-Type": "application/json"},
        data=b'{"provider": "zoho", "dsn": "\xff\xfe", "access_token": "x"}',
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["detail"].startswith("Validation error: ")


def test_idempotent_retry_after_delete_is_a_documented_answer(
    api: Api, stack: RunningStack, make_org: Any
) -> None:
    org = make_org()
    key = "retry-" + secrets.token_hex(8)
    body = {"provider": "zoho", "dsn": "https://zoho.example", "access_token": _secret("zoho")}
    created = api.post(f"{BASE}/", {**org.key, "Idempotency-Key": key}, json=body)
    assert created.status_code == 201, created.text
    deleted = api.delete(f"{BASE}/{created.json()['id']}", org.key)
    assert deleted.status_code == 200, deleted.text
    retry = schema["/integration-credentials/"]["POST"].Case(
        body=body, headers={"Idempotency-Key": key}, media_type="application/json"
    )
    # Schemathesis' checks: the answer must be one the document declares for POST.
    response = retry.call_and_validate(base_url=stack.base_url, headers=org.key)
    assert response.status_code == 409
    assert response.json() == {
        "detail": "The credentials created with this Idempotency-Key have since been deleted"
    }


def test_other_orgs_idempotency_key_is_not_shared(api: Api, tenancy: Tenancy, make_org: Any) -> None:
    """The other org's key and body, sent by a third org: a create of its own, not a replay."""
    third = make_org()
    body = json.loads(tenancy.other_body)
    request = {name: body[name] for name in ("provider", "dsn", "access_token", "metadata")}
    response = api.post(
        f"{BASE}/", {**third.key, "Idempotency-Key": tenancy.other_idempotency_key}, json=request
    )
    assert response.status_code == 201, response.text
    assert response.json()["org_id"] == third.org_id
    assert response.json()["id"] != tenancy.other_id


def assert_other_org_untouched(api: Api, tenancy: Tenancy) -> None:
    # Which routes meet the other org's id depends on the cases drawn (random order and xdist
    # reseed them): where by-id routes were fuzzed, some case must have aimed at it.
    by_id = [call for call in tenancy.calls if "{credentials_id}" in call[1]]
    assert not by_id or any(at_other for _, _, _, at_other in by_id), (
        "no fuzz case aimed at the other org's id"
    )
    read = api.get(f"{BASE}/{tenancy.other_id}", tenancy.other.key)
    assert read.status_code == 200, read.text
    assert read.content == tenancy.other_body
    assert read.headers["ETag"] == tenancy.other_etag
    listed = api.get(f"{BASE}/", tenancy.other.key)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [json.loads(tenancy.other_body)]
