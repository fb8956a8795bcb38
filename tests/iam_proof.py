"""IAM proven against the calls the code makes. Every stack of the run (the integration suite's
in-process embedded AWS, each e2e local stack) records the AWS accesses its functions make (per
function: by its access key id on a local stack, by the running handler in process) in a directory
of its own under the run's IAM_CALLS_DIR, shared by every xdist worker.

- At each stack's teardown (`stack_problems`): every access it recorded is one template.yaml's
  policies allow (as the SAM translator turns them into roles, and as the credentials key's policy
  decides), and is a real IAM action (a TransactWriteItems is recorded as its items' actions).
- Once the whole suite ran (`run_problems`, from the session-finish hook of the process that
  started the run): every function made calls; every write or decrypt a policy grants is used by
  some test; and taking one action out of one policy is caught on the recorded calls.
"""

import copy
import os
import uuid
from pathlib import Path

from local_stack import iam
from local_stack.template import load_template

ENVIRONMENT = "IAM_CALLS_DIR"

# Every function of the template: the integration suite calls them all in process; on e2e's stacks
# the scheduler, the shard scanner and the worker run on test_refresh_local_stack.py's, connect and its callback on
# test_connect_browser.py's.
FUNCTIONS = {
    "CreateCredentialsFunction",
    "ListCredentialsFunction",
    "GetCredentialsByProviderFunction",
    "GetCredentialsFunction",
    "UpdateCredentialsFunction",
    "DeleteCredentialsFunction",
    "RefreshCredentialsFunction",
    "VerifyCredentialsFunction",
    "RefreshSchedulerFunction",
    "RefreshShardScannerFunction",
    "RefreshWorkerFunction",
    "ConnectCredentialsFunction",
    "OAuthCallbackFunction",
}
# One action taken out of one function's policy: the recorded calls must then be denied.
REMOVED_ACTIONS = (
    ("GetCredentialsFunction", "dynamodb:GetItem"),
    ("CreateCredentialsFunction", "dynamodb:PutItem"),
    ("RefreshWorkerFunction", "dynamodb:UpdateItem"),
    ("RefreshSchedulerFunction", "sqs:SendMessage"),
    ("RefreshShardScannerFunction", "dynamodb:Query"),
    ("DeleteCredentialsFunction", "sqs:SendMessage"),
    ("ConnectCredentialsFunction", "ssm:GetParameter"),
)

Record = tuple[dict[str, str], dict[tuple[str, str], str], list[iam.Access]]


def run_directory() -> Path:
    """The run's directory of records (made by the process that started the run)."""
    return Path(os.environ[ENVIRONMENT])


def new_stack_directory(name: str) -> Path:
    """A directory of one stack's own under the run's (ports are reused; ids are not)."""
    directory = run_directory() / f"{name}-{uuid.uuid4().hex}"
    directory.mkdir(parents=True)
    return directory


def records(directory: Path) -> list[Record]:
    return [iam.read_record(path) for path in sorted(directory.rglob("*.jsonl"))]


def stack_problems(directory: Path) -> list[str]:
    """What is wrong with one stack's recorded accesses: denied ones, unknown actions."""
    problems: list[str] = []
    for refs, attributes, accesses in records(directory):
        denied = iam.findings(iam.template_policies(refs, attributes), accesses).denied
        problems += [f"denied by template.yaml: {access}" for access in denied]
        actions = {access.action for access in accesses}
        if "dynamodb:TransactWriteItems" in actions:
            problems.append("a TransactWriteItems was recorded as itself, not as its items' actions")
        problems += [
            f"not an IAM action: {action}" for action in sorted(actions) if not iam.is_known_action(action)
        ]
    return problems


def run_problems(directory: Path) -> list[str]:
    """What the whole run's records say is wrong with template.yaml's policies as a whole."""
    everything = records(directory)
    if not everything:
        return [f"no stack recorded its IAM accesses in {directory}"]
    problems: list[str] = []
    seen = {access.function for _refs, _attributes, accesses in everything for access in accesses}
    if seen != FUNCTIONS:
        problems.append(
            f"functions that made no AWS call: {sorted(FUNCTIONS - seen)}; unknown: {sorted(seen - FUNCTIONS)}"
        )
    accesses = [access for _refs, _attributes, recorded in everything for access in recorded]
    refs, attributes, _ = everything[0]
    unused = iam.findings(iam.template_policies(refs, attributes), accesses).unused
    problems += [f"granted and used by no test: {grant}" for grant in unused]
    for function, action in REMOVED_ACTIONS:
        template = without_action(function, action)
        denied = [
            access
            for refs, attributes, recorded in everything
            for access in iam.findings(iam.policies(template, refs, attributes), recorded).denied
        ]
        if not any(access.function == function and access.action == action for access in denied):
            problems.append(f"{action} taken out of {function}'s policy is not caught on the recorded calls")
    return problems


def without_action(function: str, action: str) -> dict[str, object]:
    """template.yaml with one action taken out of one function's policy."""
    template = copy.deepcopy(load_template())
    for statement in template["Resources"][function]["Properties"]["Policies"][0]["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        statement["Action"] = [name for name in actions if name != action] or ["dynamodb:DescribeLimits"]
    return template
