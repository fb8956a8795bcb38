"""IAM proven against the calls the code makes: every AWS access each function made during the
whole suite (recorded by embedded AWS: per function by its access key id on e2e's local stacks,
by the running handler on the integration suite's in-process one) is one template.yaml's
policies allow, as the SAM translator turns them into roles and as the credentials key's policy
decides; and every write or decrypt a policy grants is one some test used. This package is
collected last (tests/zz_iam): it reads what every other test made the stacks do."""

import copy

import pytest
from local_stack import iam
from local_stack.template import load_template

from tests.conftest import iam_calls_dir

# Functions the e2e stacks run: every one of the template's (the scheduler and the worker run on
# test_refresh_local_stack.py's stack; connect and its callback on test_connect_browser.py's).
FUNCTIONS = {
    "CreateCredentialsFunction",
    "ListCredentialsFunction",
    "GetCredentialsByProviderFunction",
    "GetCredentialsFunction",
    "UpdateCredentialsFunction",
    "DeleteCredentialsFunction",
    "RefreshCredentialsFunction",
    "RefreshSchedulerFunction",
    "RefreshWorkerFunction",
    "ConnectCredentialsFunction",
    "OAuthCallbackFunction",
}


@pytest.fixture(autouse=True)
def _after_the_other_tests(request: pytest.FixtureRequest) -> None:
    collected = {item.path.parent.name for item in request.session.items}
    if not {"e2e", "integration"} <= collected:
        pytest.skip("run with tests/e2e and tests/integration: it checks the calls they made")


def records() -> list[tuple[dict[str, str], dict[tuple[str, str], str], list[iam.Access]]]:
    paths = sorted(iam_calls_dir().glob("*.jsonl"))
    assert len(paths) >= 3, f"expected e2e's stacks and the integration suite's in {iam_calls_dir()}"
    return [iam.read_record(path) for path in paths]


def test_every_function_made_calls_and_every_call_is_allowed():
    seen: set[str] = set()
    denied: list[iam.Access] = []
    for refs, attributes, accesses in records():
        seen |= {access.function for access in accesses}
        denied += iam.findings(iam.template_policies(refs, attributes), accesses).denied
    assert seen == FUNCTIONS
    assert denied == []


def test_every_write_or_decrypt_granted_is_used_by_some_test():
    everything = [access for _refs, _attributes, accesses in records() for access in accesses]
    refs, attributes, _ = records()[0]
    assert iam.findings(iam.template_policies(refs, attributes), everything).unused == ()


def test_every_recorded_action_is_a_real_iam_action():
    # The mapping (a TransactWriteItems is its items' actions, SendMessageBatch is SendMessage...)
    # checked against the IAM service reference (parliament's copy).
    actions = {access.action for _r, _a, accesses in records() for access in accesses}
    assert "dynamodb:TransactWriteItems" not in actions
    assert [action for action in sorted(actions) if not iam.is_known_action(action)] == []


@pytest.mark.parametrize(
    ("function", "action"),
    [
        ("GetCredentialsFunction", "dynamodb:GetItem"),
        ("CreateCredentialsFunction", "dynamodb:PutItem"),
        ("RefreshWorkerFunction", "dynamodb:UpdateItem"),
        ("RefreshSchedulerFunction", "sqs:SendMessage"),
        ("ConnectCredentialsFunction", "ssm:GetParameter"),
    ],
)
def test_removing_one_action_from_one_policy_is_caught(function, action):
    # Given the template with one action taken out of one function's policy
    template = copy.deepcopy(load_template())
    for statement in template["Resources"][function]["Properties"]["Policies"][0]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [name for name in actions if name != action] or ["dynamodb:DescribeLimits"]
    # When the recorded calls are checked against it
    denied = []
    for refs, attributes, accesses in records():
        denied += iam.findings(iam.policies(template, refs, attributes), accesses).denied
    # Then that function's use of the action is denied
    assert any(access.function == function and access.action == action for access in denied)
