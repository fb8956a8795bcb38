"""The refresh time budget, as deployed: template.yaml's timeouts, batch size, visibility timeout
and the settings' deadline, write budget, lease and wait are chosen together. A rotated refresh
token is lost when Lambda stops a function after the provider answered and before the write, so
these inequalities must keep holding whenever one of the numbers moves."""

from credentials_tools.template import load_template, queue_triggers, resources_of_type
from integration_credentials.core.settings import Settings, settings_from_environ
from integration_credentials.policy.schedule import START_MARGIN_SECONDS, refresh_budget_seconds

# API Gateway HTTP APIs end an integration after 30 s, whatever the function's timeout.
API_GATEWAY_LIMIT_SECONDS = 30
# Taking over the lease after the wait: one conditional UpdateItem (with its retries).
TAKEOVER_SECONDS = 1.0
# Init, the batch bookkeeping and the audit lines of a worker invocation.
WORKER_OVERHEAD_SECONDS = 5.0


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
    (trigger,) = queue_triggers()
    settings = deployed_settings(trigger.function.name)
    needed = trigger.batch_size * refresh_budget_seconds(settings) + WORKER_OVERHEAD_SECONDS
    assert timeout_of(trigger.function.name) >= needed, (timeout_of(trigger.function.name), needed)


def test_the_queue_does_not_redeliver_a_message_while_a_worker_may_still_hold_it():
    (trigger,) = queue_triggers()
    queue = resources_of_type("AWS::SQS::Queue")[trigger.queue]["Properties"]
    # Lambda's advice for SQS event sources: six times the function's timeout.
    assert int(queue["VisibilityTimeout"]) >= 6 * timeout_of(trigger.function.name)


def test_a_lease_outlasts_a_whole_refresh():
    for function in ("RefreshWorkerFunction", "RefreshCredentialsFunction"):
        settings = deployed_settings(function)
        assert settings.refresh_lease_seconds >= refresh_budget_seconds(settings), function


def test_an_on_demand_refresh_fits_its_function_and_api_gateway():
    settings = deployed_settings("RefreshCredentialsFunction")
    needed = settings.refresh_wait_seconds + TAKEOVER_SECONDS + refresh_budget_seconds(settings)
    timeout = timeout_of("RefreshCredentialsFunction")
    assert needed <= timeout <= API_GATEWAY_LIMIT_SECONDS, (needed, timeout)


def test_the_budget_is_the_provider_deadline_plus_the_write_plus_a_margin():
    settings = Settings(
        table_name="t", kms_key_arn="k", refresh_http_timeout_seconds=7, refresh_write_budget_seconds=3
    )
    assert refresh_budget_seconds(settings) == 7 + 3 + START_MARGIN_SECONDS
