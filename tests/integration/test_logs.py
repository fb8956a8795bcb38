"""No event, header, body, token, dsn or metadata value in any log line, even at DEBUG."""

import uuid

from tests.integration.conftest import JWT_SECRET, bearer, mint_key, reset_process_state


def test_no_secret_reaches_the_logs_on_any_route(api, stack, captured_logs):
    # Given a cold instance (the JWT secret is read from SSM, data keys from KMS), an org, its key,
    # a bearer token, and credentials full of recognisable secrets
    reset_process_state()
    org_id = f"org-{uuid.uuid4()}"
    key = mint_key(stack, org_id)
    token_headers = bearer(org_id)
    secrets = {
        "access_token": "AT-" + uuid.uuid4().hex,
        "dsn": "postgres://user:PW-" + uuid.uuid4().hex + "@crm/db",
        "refresh_token": "RT-" + uuid.uuid4().hex,
        "client_secret": "CS-" + uuid.uuid4().hex,
        "new_token": "NT-" + uuid.uuid4().hex,
    }
    headers = {"X-API-Key": key}
    body = {
        "provider": "salesforce",
        "dsn": secrets["dsn"],
        "access_token": secrets["access_token"],
        "metadata": {"refresh_token": secrets["refresh_token"], "client_secret": secrets["client_secret"]},
    }
    # When every route is driven, with successes and failures
    created = api.create(headers, body)
    assert created.status == 201
    credentials_id = created.json["id"]
    api.create(headers, body)  # 409
    api.create(headers, {**body, "provider": "Bad Provider"})  # 400 with the tokens in the body
    api.create({}, body)  # 401
    api.get_by_provider(headers, "salesforce")
    api.get(token_headers, credentials_id)
    api.list(headers)
    api.update(headers, credentials_id, {"access_token": secrets["new_token"]})
    api.update(
        headers, credentials_id, {"access_token": 5, "metadata": {"x": secrets["client_secret"]}}
    )  # 400
    api.update({"X-API-Key": "sk_live_" + "Z" * 40}, credentials_id, {"access_token": secrets["new_token"]})
    api.delete(headers, credentials_id)
    # Then logs were written, and none holds a secret, a key or a token
    logs = captured_logs.getvalue()
    assert "request rejected" in logs
    forbidden = [*secrets.values(), key, token_headers["Authorization"].split()[1], "user:PW-", JWT_SECRET]
    leaked = [value for value in forbidden if value in logs]
    assert leaked == []
