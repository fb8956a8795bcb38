"""The API flow's checks, in order: auth, the seed stored and read back, tenancy, update, cache
headers, scopes, refresh, delete, connect. PYTEST_DONT_REWRITE: failures show the checks' messages,
which name statuses and fields, never values."""

import json
import secrets
from typing import Any

import pytest

from smoke.audit import AuditExpectation
from smoke.expect import (
    difference,
    expect,
    expect_fields,
    expect_replies,
    expect_reply,
    parse_timestamp,
    sorted_by_id,
)
from smoke.http import Http
from smoke.seed import (
    FORBIDDEN,
    SEED_BODIES,
    SEED_UPDATE,
    UNAUTHORIZED,
    VALIDATION_PROVIDER_REQUIRED,
    already_exists,
    deleted,
    not_found,
    provider_not_found,
)
from smoke.state import BASE, MIN_SECRET_CHARS, SmokeRun

CUSTOM_PROVIDER = "custom"
NO_IDENTITY_CALL = "provider '{}' has no identity call"
INVALID_REVOKE = {"detail": "Validation error: revoke must be true or false"}
UNKNOWN_CONNECT_STATE = {
    "detail": (
        "Unknown, expired or already used OAuth state: start the connection again "
        "(POST /integration-credentials/connect)"
    )
}


@pytest.mark.gate
def test_no_api_key_or_an_unknown_one_is_401_with_the_seed_text(run: SmokeRun) -> None:
    anonymous = Http(run.target.base_url, None, run.target.http_timeout)
    expect_reply(anonymous.get(f"{BASE}/"), 401, UNAUTHORIZED)
    unknown = Http(run.target.base_url, "sk_live_" + secrets.token_hex(20), run.target.http_timeout)
    expect_reply(unknown.get(f"{BASE}/"), 401, UNAUTHORIZED)


@pytest.mark.gate
def test_preflight_both_keys_are_accepted_and_their_orgs_hold_no_credentials(run: SmokeRun) -> None:
    expect(run.owner.api_key != run.other.api_key, "the two API keys are the same: give two orgs' keys")
    for name, caller in (("API key", run.owner), ("other API key", run.other)):
        reply = caller.get(f"{BASE}/")
        expect(reply.status == 200, f"the {name} is refused: {reply.status}{reply.detail_note()}")
        listing = expect_reply(reply, 200)
        expect(listing == [], f"the {name}'s org already holds {len(listing)} credential(s): use a fresh org")
    run.preflight_passed = True


def test_the_seed_examples_are_stored_201_and_a_second_is_409(run: SmokeRun) -> None:
    for provider, body in SEED_BODIES.items():
        run.create(f"{BASE}/", body, f"seed {provider}")
    expect(len(set(run.ids.values())) == len(SEED_BODIES), "the seed's credentials do not have distinct ids")
    again = run.owner.post(f"{BASE}/", SEED_BODIES["salesforce"])
    expect_reply(again, 409, already_exists("salesforce"))


def custom_body(suffix: str) -> dict[str, Any]:
    """A credential of the seed's `custom` provider, with values nobody else sends."""
    return {
        "provider": CUSTOM_PROVIDER,
        "dsn": f"https://crm-{suffix}.example.com",
        "access_token": f"smoke-access-{secrets.token_urlsafe(24)}",
        "metadata": {
            "tenant": f"smoke-tenant-{suffix}",
            "nested": {"values": [f"smoke-nested-{secrets.token_hex(12)}"]},
            "remove_me": f"smoke-removed-{secrets.token_hex(12)}",
        },
    }


def test_post_without_the_slash_stores_a_custom_credential(run: SmokeRun) -> None:
    run.create(BASE, custom_body(run.suffix), "custom")


def test_a_body_without_provider_is_400_with_the_seed_text(run: SmokeRun) -> None:
    body = {"dsn": f"https://invalid-{run.suffix}.example.com", "access_token": f"smoke-invalid-{run.suffix}"}
    run.record_sent(body, "invalid body")
    expect_reply(run.owner.post(f"{BASE}/", body), 400, VALIDATION_PROVIDER_REQUIRED)


def test_each_reads_back_by_id_and_by_provider_as_stored(run: SmokeRun) -> None:
    run.need(*SEED_BODIES)
    for provider, expected in run.current.items():
        expect_reply(run.owner.get(f"{BASE}/{expected['id']}"), 200, expected)
        expect_reply(run.owner.get(f"{BASE}/provider/{provider}"), 200, expected)
    run.audit_expected.append(AuditExpectation("get", run.ids["salesforce"], 200))


def test_both_list_paths_list_exactly_them(run: SmokeRun) -> None:
    run.need(*SEED_BODIES, CUSTOM_PROVIDER)
    expected = sorted_by_id(list(run.current.values()))
    for path in (BASE, f"{BASE}/"):
        listing = sorted_by_id(expect_reply(run.owner.get(path), 200))
        expect(listing == expected, f"GET {path}: {difference(listing, expected)}")


def test_the_other_org_gets_403_on_get_update_delete_and_refresh_by_id(run: SmokeRun) -> None:
    (credentials_id,) = run.need("salesforce")
    path = f"{BASE}/{credentials_id}"
    intruder = {"access_token": f"smoke-intruder-{secrets.token_urlsafe(18)}", "metadata": {"x": None}}
    run.record_sent(intruder, "intruder update")
    attempts = [
        run.other.get(path),
        run.other.put(path, intruder),
        run.other.delete(path),
        run.other.post(f"{path}/refresh"),
    ]
    run.audit_expected.append(AuditExpectation("get", credentials_id, 403))
    expect_replies(attempts, 403, [FORBIDDEN] * len(attempts))
    # And the owner's credentials are exactly as they were.
    expect_reply(run.owner.get(path), 200, run.current["salesforce"])


def test_the_other_org_gets_404_by_provider_and_an_empty_list(run: SmokeRun) -> None:
    run.need(*SEED_BODIES)
    providers = (*SEED_BODIES, CUSTOM_PROVIDER)
    expect_replies(
        [run.other.get(f"{BASE}/provider/{provider}") for provider in providers],
        404,
        [provider_not_found(provider) for provider in providers],
    )
    expect_replies([run.other.get(BASE), run.other.get(f"{BASE}/")], 200, [[], []])


# What a PUT must keep or set; status, expires_at and updated_at may move with a new token.
UPDATED_FIELDS = ("id", "org_id", "provider", "dsn", "access_token", "metadata", "created_at")


def test_put_rotates_the_token_and_merges_metadata(run: SmokeRun) -> None:
    (salesforce_id, custom_id) = run.need("salesforce", CUSTOM_PROVIDER)
    # The seed's token rotation: the token is replaced, metadata keys it does not name stay.
    before = run.current["salesforce"]
    run.record_sent(SEED_UPDATE, "seed update")
    reply = run.owner.put(f"{BASE}/{salesforce_id}", SEED_UPDATE)
    updated = expect_reply(reply, 200)
    expected = {
        **before,
        "access_token": SEED_UPDATE["access_token"],
        "metadata": {**before["metadata"], **SEED_UPDATE["metadata"]},
    }
    expect_fields(updated, expected, UPDATED_FIELDS, reply.what)
    expect(
        parse_timestamp(updated["updated_at"], "updated_at")
        > parse_timestamp(before["updated_at"], "updated_at"),
        f"{reply.what}: updated_at did not move forward",
    )
    run.current["salesforce"] = updated
    run.audit_expected.append(AuditExpectation("update", salesforce_id, 200))
    expect_reply(run.owner.get(f"{BASE}/provider/salesforce"), 200, updated)

    # A JSON Merge Patch: null removes a key, a new key is added, the others stay.
    before = run.current[CUSTOM_PROVIDER]
    patch = {"metadata": {"remove_me": None, "added": f"smoke-added-{secrets.token_hex(12)}"}}
    run.record_sent(patch, "custom update")
    reply = run.owner.put(f"{BASE}/{custom_id}", patch)
    updated = expect_reply(reply, 200)
    metadata = {name: value for name, value in before["metadata"].items() if name != "remove_me"}
    expected = {**before, "metadata": {**metadata, "added": patch["metadata"]["added"]}}
    expect_fields(updated, expected, UPDATED_FIELDS, reply.what)
    run.current[CUSTOM_PROVIDER] = updated
    expect_reply(run.owner.get(f"{BASE}/{custom_id}"), 200, updated)


def test_credentials_responses_and_refusals_are_no_store(run: SmokeRun) -> None:
    # Every response that can carry a token: no cache or proxy may keep it.
    (credentials_id,) = run.need("salesforce")
    replies = [
        run.owner.get(f"{BASE}/{credentials_id}"),
        run.owner.get(f"{BASE}/provider/salesforce"),
        run.owner.get(f"{BASE}/"),
        run.other.get(f"{BASE}/{credentials_id}"),
    ]
    for reply in replies:
        cache_control, pragma = reply.headers.get("Cache-Control"), reply.headers.get("Pragma")
        expect(
            cache_control == "no-store" and pragma == "no-cache",
            f"{reply.what} ({reply.status}): Cache-Control {cache_control!r}, Pragma {pragma!r}",
        )


def test_a_write_only_key_gets_403_on_get_and_no_stored_secret_from_a_put(run: SmokeRun) -> None:
    # A key that may not read gets no stored secret back, even from a PUT that changes nothing.
    (credentials_id,) = run.need("salesforce")
    if run.target.write_only_api_key is None:
        pytest.skip("needs a write-only key of the first org (SMOKE_WRITE_ONLY_API_KEY)")
    writer = Http(run.target.base_url, run.target.write_only_api_key, run.target.http_timeout)
    before = run.current["salesforce"]
    path = f"{BASE}/{credentials_id}"
    expect_reply(writer.get(path), 403, FORBIDDEN)
    reply = writer.put(path, {"metadata": {}})
    answer = expect_reply(reply, 200)
    expect(isinstance(answer, dict) and "access_token" not in answer, f"{reply.what}: access_token returned")
    expect(answer.get("metadata") == {}, f"{reply.what}: stored metadata returned")
    # The dsn is not secret (and the seed's instance_url repeats it): look everywhere else.
    shown = json.dumps({name: value for name, value in answer.items() if name != "dsn"})
    stored = [before["access_token"], *(v for v in before["metadata"].values() if isinstance(v, str))]
    leaked = [value for value in stored if len(value) >= MIN_SECRET_CHARS and value in shown]
    run.current["salesforce"] = expect_reply(run.owner.get(path), 200)
    expect(not leaked, f"{reply.what}: {len(leaked)} stored value(s) in the write-only answer")


def test_credentials_that_cannot_be_refreshed_are_409(run: SmokeRun) -> None:
    for provider in ("pipedrive", CUSTOM_PROVIDER):
        (credentials_id,) = run.need(provider)
        reply = run.owner.post(f"{BASE}/{credentials_id}/refresh")
        payload = expect_reply(reply, 409)
        prefix = f"Integration credentials {credentials_id} cannot be refreshed: "
        detail = payload.get("detail") if isinstance(payload, dict) else None
        expect(
            isinstance(detail, str) and detail.startswith(prefix) and len(detail) > len(prefix),
            f"{reply.what}: detail {detail!r}, expected {prefix + '<reason>'!r}",
        )
        expect_reply(run.owner.get(f"{BASE}/{credentials_id}"), 200, run.current[provider])
    run.audit_expected.append(AuditExpectation("refresh", run.ids["pipedrive"], 409))


def test_verify_refuses_what_no_crm_can_check_and_another_orgs_credentials(run: SmokeRun) -> None:
    # Checks that ask no CRM: a provider without an identity call, another org, an unknown id.
    (custom_id,) = run.need(CUSTOM_PROVIDER)
    reply = run.owner.post(f"{BASE}/{custom_id}/verify")
    no_identity_call = NO_IDENTITY_CALL.format(CUSTOM_PROVIDER)
    expect_reply(
        reply,
        409,
        {"detail": f"Integration credentials {custom_id} cannot be verified: {no_identity_call}"},
    )
    run.audit_expected.append(AuditExpectation("verify", custom_id, 409))
    (salesforce_id,) = run.need("salesforce")
    expect_reply(run.other.post(f"{BASE}/{salesforce_id}/verify"), 403, FORBIDDEN)
    unknown = "00000000-0000-4000-8000-000000000000"
    expect_reply(run.owner.post(f"{BASE}/{unknown}/verify"), 404, not_found(unknown))
    expect_reply(run.owner.get(f"{BASE}/{salesforce_id}"), 200, run.current["salesforce"])


def test_a_create_with_a_verify_no_crm_can_do_is_400_and_stores_nothing(run: SmokeRun) -> None:
    body = custom_body(f"verify-{run.suffix}")
    body["provider"] = f"smoke-verify-{secrets.token_hex(4)}"
    run.record_sent(body, "verify create")
    provider = body["provider"]
    expect_reply(
        run.owner.post(f"{BASE}/?verify=maybe", body),
        400,
        {"detail": "Validation error: verify must be true or false"},
    )
    expect_reply(
        run.owner.post(f"{BASE}/?verify=true", body),
        400,
        {"detail": f"Validation error: verify: {NO_IDENTITY_CALL.format(provider)} to verify against"},
    )
    expect_reply(run.owner.get(f"{BASE}/provider/{provider}"), 404, provider_not_found(provider))


def test_delete_answers_the_seed_message_then_every_route_is_404(run: SmokeRun) -> None:
    (credentials_id,) = run.need("hubspot")
    path = f"{BASE}/{credentials_id}"
    expect_reply(run.owner.delete(path), 200, deleted(credentials_id))
    run.live.pop(credentials_id, None)
    run.current.pop("hubspot")
    # Without `revoke`, the grant is revoked at the CRM: the delete's record says it is queued.
    run.audit_expected.append(AuditExpectation("delete", credentials_id, 200, {"revocation": "queued"}))
    expect_reply(run.owner.get(path), 404, not_found(credentials_id))
    expect_reply(run.owner.get(f"{BASE}/provider/hubspot"), 404, provider_not_found("hubspot"))
    expect_reply(run.owner.put(path, {"metadata": {"after": None}}), 404, not_found(credentials_id))
    expect_reply(run.owner.delete(path), 404, not_found(credentials_id))
    listing = sorted_by_id(expect_reply(run.owner.get(f"{BASE}/"), 200))
    expected = sorted_by_id(list(run.current.values()))
    expect(listing == expected, f"GET {BASE}/ after the delete: {difference(listing, expected)}")


def test_a_delete_with_revoke_false_keeps_the_grant_and_another_value_is_400(run: SmokeRun) -> None:
    (credentials_id,) = run.need("pipedrive")
    path = f"{BASE}/{credentials_id}"
    expect_reply(run.owner.delete(f"{path}?revoke=no"), 400, INVALID_REVOKE)
    expect_reply(run.owner.get(path), 200, run.current["pipedrive"])
    expect_reply(run.owner.delete(f"{path}?revoke=false"), 200, deleted(credentials_id))
    run.live.pop(credentials_id, None)
    run.current.pop("pipedrive")
    kept = AuditExpectation("delete", credentials_id, 200, {"revocation": "not_requested"})
    run.audit_expected.append(kept)
    expect_reply(run.owner.get(path), 404, not_found(credentials_id))


def test_connect_refuses_a_foreign_return_url_and_an_unknown_state(run: SmokeRun) -> None:
    # Both connect routes answer on any stage without a provider app: a return URL off the
    # allow-list is refused before anything else, and a state nobody issued is a 400, no redirect.
    reply = run.owner.post(
        f"{BASE}/connect",
        {"provider": "hubspot", "return_url": "https://smoke.invalid/not-on-the-allow-list"},
    )
    payload = expect_reply(reply, 400)
    detail = payload.get("detail") if isinstance(payload, dict) else None
    expect(
        isinstance(detail, str) and detail.startswith("Validation error: return_url"),
        f"{reply.what}: detail {detail!r}, expected 'Validation error: return_url ...'",
    )
    # allow_account_change (account pinning) is a JSON boolean: a string is refused as such.
    reply = run.owner.post(
        f"{BASE}/connect",
        {"provider": "hubspot", "return_url": "https://smoke.invalid/", "allow_account_change": "yes"},
    )
    expect_reply(reply, 400, {"detail": "Validation error: allow_account_change must be true or false"})
    anonymous = Http(run.target.base_url, None, run.target.http_timeout)
    callback = anonymous.get(f"{BASE}/oauth/callback?state={secrets.token_urlsafe(32)}&code=smoke")
    expect_reply(callback, 400, UNKNOWN_CONNECT_STATE)
    expect("location" not in {name.lower() for name in callback.headers}, f"{callback.what} redirected")
