"""The time budgets, as deployed: template.yaml's timeouts, batch size, visibility timeout, the
clients' timeouts and retries, the budget's margin and the settings' deadline, write budget, lease
and wait are chosen together. A request that outlives its function's Timeout is answered by API
Gateway without our `Retry-After` and `detail`, and a rotated refresh token is lost when Lambda stops
a function after the provider answered and before the write, so these inequalities must keep
holding whenever one of the numbers moves."""

import aws_encryption_sdk
import botocore.exceptions
import pytest
from integration_credentials.adapters import aws, budget
from integration_credentials.core.settings import Settings, settings_from_environ
from integration_credentials.logic.connect_account import IDENTIFY_TIMEOUT_SECONDS, REVOKE_TIMEOUT_SECONDS
from integration_credentials.policy.schedule import START_MARGIN_SECONDS, refresh_budget_seconds
from local_stack.template import function_directories, load_template, queue_triggers, resources_of_type

# API Gateway HTTP APIs end an integration after 30 s, whatever the function's timeout.
API_GATEWAY_LIMIT_SECONDS = 30
# Taking over the lease after the wait: one conditional UpdateItem (with its retries).
TAKEOVER_SECONDS = 1.0
# Init, the batch bookkeeping and the audit lines of a worker invocation.
WORKER_OVERHEAD_SECONDS = 5.0


def api_functions() -> list[str]:
    """Logical ids of the functions behind the HTTP API."""
    functions = resources_of_type("AWS::Serverless::Function")
    return [
        name
        for name, resource in functions.items()
        if any(event["Type"] == "HttpApi" for event in resource["Properties"].get("Events", {}).values())
    ]


def deployed_settings(function: str) -> Settings:
    """The function's settings as deployed: code defaults under the template's literal
    environment values (Globals, then the function's own); references are resources, not numbers."""
    template = load_template()
    variables = dict(template["Globals"]["Function"]["Environment"]["Variables"])
    props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    variables.update(props.get("Environment", {}).get("Variables", {}))
    literal = {name: str(value) for name, value in variables.items() if isinstance(value, str | int | float)}
    return settings_from_environ({**literal, "TABLE_NAME": "t", "KMS_KEY_ARN": "k"})


def timeout_of(function: str) -> float:
    props = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    return float(props.get("Timeout", load_template()["Globals"]["Function"]["Timeout"]))


def test_a_worker_invocation_fits_a_whole_batch_of_refreshes():
    # Even one after the other (REFRESH_WORKER_CONCURRENCY 1): with more at once a batch needs
    # fewer rounds, and a record still starts only while a whole refresh fits.
    (trigger,) = [trigger for trigger in queue_triggers() if trigger.function.name == "RefreshWorkerFunction"]
    settings = deployed_settings(trigger.function.name)
    needed = (
        trigger.batch_size * refresh_budget_seconds(settings)
        + WORKER_OVERHEAD_SECONDS
        + budget.MARGIN_SECONDS
    )
    assert timeout_of(trigger.function.name) >= needed, (timeout_of(trigger.function.name), needed)


def test_the_queues_do_not_redeliver_a_message_while_a_function_may_still_hold_it():
    triggers = queue_triggers()
    assert {trigger.function.name for trigger in triggers} == {
        "RefreshWorkerFunction",
        "RefreshShardScannerFunction",
    }
    for trigger in triggers:
        queue = resources_of_type("AWS::SQS::Queue")[trigger.queue]["Properties"]
        # Lambda's advice for SQS event sources: six times the function's timeout.
        assert int(queue["VisibilityTimeout"]) >= 6 * timeout_of(trigger.function.name), trigger.queue


def test_a_lease_outlasts_a_whole_refresh():
    for function in ("RefreshWorkerFunction", "RefreshCredentialsFunction"):
        settings = deployed_settings(function)
        assert settings.refresh_lease_seconds >= refresh_budget_seconds(settings), function


def test_an_on_demand_refresh_fits_its_function_and_api_gateway():
    settings = deployed_settings("RefreshCredentialsFunction")
    needed = (
        settings.refresh_wait_seconds
        + TAKEOVER_SECONDS
        + refresh_budget_seconds(settings)
        + budget.MARGIN_SECONDS
    )
    timeout = timeout_of("RefreshCredentialsFunction")
    assert needed <= timeout <= API_GATEWAY_LIMIT_SECONDS, (needed, timeout)


def test_the_oauth_callback_fits_the_exchange_the_identity_call_and_a_revocation():
    # After the code exchange (the provider deadline), the new tokens' identity call and, for a
    # reconnect refused for another account, the new grant's revocation; then the store.
    settings = deployed_settings("OAuthCallbackFunction")
    needed = (
        settings.refresh_http_timeout_seconds
        + min(IDENTIFY_TIMEOUT_SECONDS, settings.refresh_http_timeout_seconds)
        + REVOKE_TIMEOUT_SECONDS
        + settings.refresh_write_budget_seconds
        + budget.MARGIN_SECONDS
    )
    timeout = timeout_of("OAuthCallbackFunction")
    assert needed <= timeout <= API_GATEWAY_LIMIT_SECONDS, (needed, timeout)


def test_the_budget_is_the_provider_deadline_plus_the_write_plus_a_margin():
    settings = Settings(
        table_name="t", kms_key_arn="k", refresh_http_timeout_seconds=7, refresh_write_budget_seconds=3
    )
    assert refresh_budget_seconds(settings) == 7 + 3 + START_MARGIN_SECONDS


# ---- the time budget of every request -----------------------------------------------------------


def test_an_attempt_started_before_the_deadline_ends_before_the_answer_is_due():
    # Only the read timeout is cut to the time left; a new connection may still take its whole
    # connect timeout, and the 503 has to be written after that.
    assert budget.MARGIN_SECONDS >= budget.CONNECT_TIMEOUT_SECONDS + budget.ANSWER_SECONDS


@pytest.mark.parametrize("function", api_functions())
def test_every_api_function_fits_one_whole_attempt_within_api_gateway(function):
    # The budget leaves room for an answer that takes the whole read timeout (a slow but healthy
    # dependency is waited for once), and API Gateway waits for the function's whole Timeout.
    assert len(api_functions()) == len(function_directories())
    timeout = timeout_of(function)
    assert timeout - budget.MARGIN_SECONDS >= budget.READ_TIMEOUT_SECONDS + budget.MIN_ATTEMPT_SECONDS
    assert timeout <= API_GATEWAY_LIMIT_SECONDS


def test_every_client_has_the_budgets_timeouts_and_bounded_retries(monkeypatch):
    # Given the process's botocore session, fresh (no AWS call: making a client sends nothing)
    for name in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "unit")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "unit")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.reset_clients()
    try:
        session = aws.botocore_session()
        # When the Encryption SDK makes its KMS client from it (as the cipher does)
        key_arn = "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555"
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[key_arn], botocore_session=session, region_names=["eu-west-1"]
        )
        kms = provider._regional_clients["eu-west-1"]  # the SDK keeps its clients here
        # Then it has the same timeouts and retries as the service's own clients
        for client in (kms, aws.dynamodb_client(), aws.ssm_client(), aws.events_client()):
            config = client.meta.config
            assert (config.connect_timeout, config.read_timeout) == (
                budget.CONNECT_TIMEOUT_SECONDS,
                budget.READ_TIMEOUT_SECONDS,
            ), client.meta.service_model.service_name
            assert config.retries == {"mode": "standard", "total_max_attempts": 3}
    finally:
        aws.reset_clients()


class _Context:
    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        return self.millis


class _Request:
    def __init__(self) -> None:
        self.context = {"client_config": aws.CLIENT_CONFIG}


def test_an_attempt_reads_for_no_longer_than_the_time_left():
    request = _Request()
    with budget.time_budget(_Context(int((budget.MARGIN_SECONDS + 2) * 1000))):
        budget._before_send(request)
    assert 1.5 < request.context["read_timeout"] <= 2
    # Outside a budget (the admin CLI, a test's own client) the client's read timeout stands.
    request = _Request()
    budget._before_send(request)
    assert "read_timeout" not in request.context


def test_no_attempt_starts_once_the_budget_is_spent():
    with (
        budget.time_budget(_Context(int(budget.MARGIN_SECONDS * 1000))),
        pytest.raises(budget.TimeBudgetSpentError),
    ):
        budget._before_send(_Request())
    # The callers turn it into the dependency being unavailable (a 503), not a misconfiguration.
    assert (
        type(aws.dependency_error_of("KMS", budget.TimeBudgetSpentError())).__name__
        == "DependencyUnavailableError"
    )


class _Response:
    def __init__(self, status: int) -> None:
        self.status_code = status


def test_botocore_does_not_retry_when_its_backoff_could_outlast_the_budget():
    throttled = (_Response(400), {"Error": {"Code": "ThrottlingException"}})
    failed = (_Response(500), {"Error": {"Code": "InternalServerError"}})
    with budget.time_budget(_Context(int((budget.MARGIN_SECONDS + 1.5) * 1000))):
        assert budget._after_attempt(attempts=1, response=throttled) is None  # waits at most 1 s
        assert budget._after_attempt(attempts=2, response=throttled) is False  # may wait 2 s
        assert budget._after_attempt(attempts=5, response=failed) is None  # at most 0.8 s
    with budget.time_budget(_Context(int((budget.MARGIN_SECONDS + 0.3) * 1000))):
        assert budget._after_attempt(attempts=1, response=failed) is None  # at most 50 ms
        assert budget._after_attempt(attempts=1, response=throttled) is False
    assert budget._after_attempt(attempts=5, response=throttled) is None  # no budget: botocore decides


@pytest.mark.parametrize(
    ("response", "exception", "uncertain"),
    [
        ((_Response(500), {}), None, True),  # DynamoDB: "the request may or may not have succeeded"
        ((_Response(400), {}), None, False),  # throttled, refused: not applied
        (None, botocore.exceptions.ReadTimeoutError(endpoint_url="x"), True),
        (None, botocore.exceptions.ConnectionClosedError(endpoint_url="x"), True),
        (None, botocore.exceptions.ConnectTimeoutError(endpoint_url="x"), False),
        (None, botocore.exceptions.EndpointConnectionError(endpoint_url="x"), False),
        (None, budget.TimeBudgetSpentError(), False),
    ],
)
def test_an_attempt_whose_outcome_is_unknown_is_told_apart(response, exception, uncertain):
    with budget.uncertain_outcome() as call:
        budget._after_attempt(attempts=1, response=response, caught_exception=exception)
    assert call.uncertain is uncertain


def test_a_revocation_waits_out_the_delete_that_queued_it():
    # The worker takes a revocation as done only when its row is gone: it must not see the message
    # while the delete that sent it may still be running (REVOKE_DELAY_SECONDS, SQS DelaySeconds).
    settings = deployed_settings("DeleteCredentialsFunction")
    assert settings.revoke_delay_seconds > timeout_of("DeleteCredentialsFunction"), (
        settings.revoke_delay_seconds,
        timeout_of("DeleteCredentialsFunction"),
    )
