"""No event, header, body, token, dsn or metadata value in any log line, even at DEBUG; each line
names the request it belongs to."""

import json
import uuid

from local_stack.lambda_runtime import FakeLambdaContext

from tests.integration.conftest import JWT_SECRET, bearer, load_function, mint_key, reset_process_state


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


def test_every_line_of_a_request_carries_its_api_gateway_request_id(api, stack, captured_logs):
    # Given an org's key, and two requests API Gateway sent with request ids of their own, one of
    # them for an id nobody has (a 404, which is logged)
    key = mint_key(stack, f"org-{uuid.uuid4()}")
    instance = load_function("get_credentials")
    events = [
        api.event(
            "get_credentials",
            headers={"X-API-Key": key},
            path_parameters={"credentials_id": str(uuid.uuid4())},
        )
        for _ in range(2)
    ]
    # When the same warm instance serves both
    for event in events:
        context = FakeLambdaContext(function_name="get_credentials", aws_request_id=str(uuid.uuid4()))
        assert instance.lambda_handler(event, context)["statusCode"] == 404
    # Then each request's log line carries that request's API Gateway id as its correlation id
    lines = [json.loads(line) for line in captured_logs.getvalue().splitlines() if line.startswith("{")]
    rejected = [line for line in lines if line.get("message") == "request rejected"]
    assert [line.get("correlation_id") for line in rejected] == [
        event["requestContext"]["requestId"] for event in events
    ]
    assert {line.get("action") for line in rejected} == {"get"}
