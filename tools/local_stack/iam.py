"""What IAM would decide for the AWS calls the functions make: template.yaml's policies (the role
of each function as the SAM translator builds it, and the credentials key's resource policy)
against the calls the embedded AWS recorded, function by function.

Recording: the local stack gives each function its own access key id (`function_access_key`);
the embedded AWS reads the signer's key id of every request and turns the request into the IAM
accesses AWS would check (`accesses`): a `TransactWriteItems` is one `PutItem`/`UpdateItem`/
`DeleteItem`/`ConditionCheckItem` per item (it has no action of its own), a `SendMessageBatch` is
`sqs:SendMessage`, with the resource ARN and the condition keys the template's conditions read
(`dynamodb:LeadingKeys`, `kms:EncryptionContextKeys`, `kms:EncryptionContext:<key>`).

Deciding (`findings`): a recorded access no statement allows is *denied* (for the credentials
key, `key_allows`: its policy's denies first, then its allows, the account's through IAM); a write,
decrypt or data-key action a statement grants and no recorded access used is *unused* (except the
runtime's own, `RUNTIME_EXTRAS`, which no local test can exercise). `key_allows` also answers for
principals that are no function (tests/infrastructure/test_key_access.py: who can reach the plaintext).
moto's own IAM enforcement cannot serve here: it checks actions against `Resource: "*"` only and
knows `TransactWriteItems` as an action.

Longer than 300 lines: the recording and the decision share the `Access` model and the ARN
conventions both sides must agree on; kept together so they cannot drift apart.
"""

import copy
import fnmatch
import importlib.util
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from .template import load_template, resolve, template_condition

ACCESS_KEY_PREFIX = "AKLOCAL"
# In-process tests run every function in one process with one set of clients: they name the
# function whose handler is running in this header instead (`name_calls_of`).
FUNCTION_HEADER = "X-Local-Function"
ACCOUNT_ID = "123456789012"
ROLE_SUFFIX = "Role"
# Written by the Lambda runtime and the X-Ray daemon, never by the functions' code: locally
# nothing sends them, so they cannot be "used" by a test.
RUNTIME_EXTRAS = frozenset(
    {
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
    }
)
# What the managed policies SAM attaches grant (the translator names them by ARN only).
MANAGED_POLICIES: Mapping[str, tuple[str, ...]] = {
    "AWSLambdaBasicExecutionRole": ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"),
    "AWSXrayWriteOnlyAccess": (
        "xray:PutTraceSegments",
        "xray:PutTelemetryRecords",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:GetSamplingStatisticSummaries",
    ),
    "AWSLambdaSQSQueueExecutionRole": (
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "logs:CreateLogGroup",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    ),
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}
# Operations authorised by another action's name.
_ACTION_OF = {
    ("sqs", "SendMessageBatch"): "sqs:SendMessage",
    ("sqs", "DeleteMessageBatch"): "sqs:DeleteMessage",
    ("sqs", "ChangeMessageVisibilityBatch"): "sqs:ChangeMessageVisibility",
}


def function_access_key(function: str) -> str:
    """The access key id the local stack gives a function (its logical id, recognisable)."""
    return ACCESS_KEY_PREFIX + function


def function_of_access_key(access_key: str) -> str | None:
    """The function whose local access key this is, if it is one."""
    return access_key.removeprefix(ACCESS_KEY_PREFIX) if access_key.startswith(ACCESS_KEY_PREFIX) else None


def name_calls_of(session: Any, current_function: Callable[[], str | None]) -> None:
    """Make every request a botocore session's clients send name `current_function()`'s function
    (register before the clients are made: a client copies the session's handlers)."""

    def add_header(request: Any, **_: Any) -> None:
        function = current_function()
        if function:
            request.headers[FUNCTION_HEADER] = function

    session.register("before-send", add_header, unique_id="credentials-tools-function-header")


def table_arn(name: str, region: str, account: str = ACCOUNT_ID) -> str:
    """A DynamoDB table's ARN."""
    return f"arn:aws:dynamodb:{region}:{account}:table/{name}"


def parameter_arn(name: str, region: str, account: str = ACCOUNT_ID) -> str:
    """An SSM parameter's ARN (`name` starts with `/`)."""
    return f"arn:aws:ssm:{region}:{account}:parameter{name}"


@dataclass(frozen=True)
class Access:
    """One IAM check a request makes: action, resource, and the condition keys it carries."""

    function: str
    action: str
    resource: str
    context: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def values(self, key: str) -> tuple[str, ...] | None:
        """The values of a condition key, None when the request does not carry it."""
        for name, values in self.context:
            if name == key:
                return values
        return None

    def to_json(self) -> dict[str, Any]:
        """A JSON line of the record."""
        return {
            "function": self.function,
            "action": self.action,
            "resource": self.resource,
            "context": {name: list(values) for name, values in self.context},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> "Access":
        """An access read back from the record."""
        context = tuple(sorted((name, tuple(values)) for name, values in data.get("context", {}).items()))
        return cls(str(data["function"]), str(data["action"]), str(data["resource"]), context)


def _context(**keys: Iterable[str] | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        sorted(
            (name.replace("__", ":"), tuple(values)) for name, values in keys.items() if values is not None
        )
    )


def _leading_key(key: Mapping[str, Any] | None) -> list[str] | None:
    # The partition key is the first attribute of the item's key (every key the service builds
    # names it first); dynamodb:LeadingKeys compares its value. Kept: the item kind's prefix
    # ("ORGCOUNT#", "ID#"), what the template's conditions name; the rest (an org id) is not.
    if not key:
        return None
    first = next(iter(key.values()))
    if not isinstance(first, dict):
        return None
    value = str(first.get("S", ""))
    prefix, hash_mark, _rest = value.partition("#")
    return [prefix + hash_mark + "<value>" if hash_mark else "<value>"]


def _first_key(part: Any) -> Mapping[str, Any] | None:
    # A BatchGetItem table's `Keys`, a BatchWriteItem table's list of Put/Delete requests.
    if isinstance(part, dict):
        keys = part.get("Keys") or [None]
        return keys[0] if isinstance(keys[0], dict) else None
    if isinstance(part, list) and part:
        request = part[0].get("PutRequest") or part[0].get("DeleteRequest") or {}
        found = request.get("Item") or request.get("Key")
        return found if isinstance(found, dict) else None
    return None


def accesses(
    function: str, service: str, operation: str, body: bytes, region: str, account: str = ACCOUNT_ID
) -> list[Access]:
    """The IAM accesses one request makes (JSON protocols: DynamoDB, KMS, SSM, SQS, EventBridge)."""
    try:
        request: dict[str, Any] = json.loads(body or b"{}")
    except ValueError:
        request = {}
    if service == "dynamodb":
        if operation == "TransactWriteItems":
            found = []
            for item in request.get("TransactItems", []):
                for kind, action in _TRANSACT_ACTIONS.items():
                    if kind in item:
                        part = item[kind]
                        key = part.get("Key") or part.get("Item")
                        context = _context(dynamodb__LeadingKeys=_leading_key(key))
                        arn = table_arn(part["TableName"], region, account)
                        found.append(Access(function, f"dynamodb:{action}", arn, context))
            return found
        if operation in ("BatchGetItem", "BatchWriteItem"):
            # Authorised per table it names (LeadingKeys: the first key's, as for one item).
            return [
                Access(
                    function,
                    f"dynamodb:{operation}",
                    table_arn(table, region, account),
                    _context(dynamodb__LeadingKeys=_leading_key(_first_key(part))),
                )
                for table, part in request.get("RequestItems", {}).items()
            ]
        arn = table_arn(str(request.get("TableName", "")), region, account)
        if request.get("IndexName"):
            arn += f"/index/{request['IndexName']}"
        key = request.get("Key") or request.get("Item")
        return [
            Access(function, f"dynamodb:{operation}", arn, _context(dynamodb__LeadingKeys=_leading_key(key)))
        ]
    if service == "kms":
        encryption_context = request.get("EncryptionContext") or {}
        # Which keys are present is what the key policy's conditions read; the values (ids) are not
        # kept, so the record stays one line per kind of access.
        keys = {f"kms:EncryptionContext:{name}": ["<present>"] for name in encryption_context}
        context = tuple(
            sorted(
                [("kms:EncryptionContextKeys", tuple(sorted(encryption_context)))]
                + [(name, tuple(values)) for name, values in keys.items()]
            )
        )
        return [Access(function, f"kms:{operation}", str(request.get("KeyId", "*")), context)]
    if service == "ssm":
        names = request.get("Names") or [request.get("Name", "")]
        return [Access(function, f"ssm:{operation}", parameter_arn(name, region, account)) for name in names]
    if service == "sqs":
        path = urlsplit(str(request.get("QueueUrl", ""))).path.strip("/").split("/")
        arn = f"arn:aws:sqs:{region}:{path[0] if len(path) == 2 else account}:{path[-1]}"
        return [Access(function, _ACTION_OF.get((service, operation), f"sqs:{operation}"), arn)]
    if service == "events":
        buses = {str(entry.get("EventBusName") or "default") for entry in request.get("Entries", [])}
        return [
            Access(function, f"events:{operation}", f"arn:aws:events:{region}:{account}:event-bus/{bus}")
            for bus in sorted(buses)
        ]
    return [Access(function, f"{service}:{operation}", "*")]


# ---- the template's policies -------------------------------------------------------------------


@dataclass(frozen=True)
class Statement:
    """A statement, resolved: the actions it allows (or denies), on which resources, under which
    conditions; `principals` (ARNs, or "*") for a key policy's statements."""

    actions: tuple[str, ...]
    resources: tuple[str, ...]
    condition: Mapping[str, Mapping[str, Any]]
    principals: tuple[str, ...] = ()
    source: str = ""
    effect: str = "Allow"


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def translated(template: Mapping[str, Any], region: str) -> dict[str, Any]:
    """The template as CloudFormation, as the SAM translator (what `sam deploy` uses) makes it."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    document = copy.deepcopy(dict(template))
    for resource in document["Resources"].values():
        props = resource.get("Properties", {})
        for name in ("CodeUri", "ContentUri"):
            if isinstance(props.get(name), str):
                props[name] = "s3://local-bucket/" + props[name].strip("/") + ".zip"
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name=region))
    result: dict[str, Any] = translator.translate(document, parameter_values={}, get_managed_policy_map=dict)
    return result


def _resolved(value: Any, refs: Mapping[str, str], attributes: Mapping[tuple[str, str], str]) -> str:
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return str(separator).join(_resolved(part, refs, attributes) for part in parts)
    return resolve(value, dict(refs), dict(attributes))


def _statement(
    raw: Mapping[str, Any],
    refs: Mapping[str, str],
    attributes: Mapping[tuple[str, str], str],
    source: str,
    effects: tuple[str, ...] = ("Allow",),
) -> Statement | None:
    if raw.get("Effect") not in effects:
        return None
    principals: tuple[str, ...] = ()
    if "Principal" in raw:
        principals = tuple(_resolved(p, refs, attributes) for p in _list(raw["Principal"].get("AWS", [])))
    return Statement(
        actions=tuple(str(action) for action in _list(raw["Action"])),
        resources=tuple(
            _resolved(resource, refs, attributes) for resource in _list(raw.get("Resource", "*"))
        ),
        condition={
            operator: {
                key: [_resolved(value, refs, attributes) for value in _list(values)]
                for key, values in tests.items()
            }
            for operator, tests in raw.get("Condition", {}).items()
        },
        principals=principals,
        source=source,
        effect=str(raw["Effect"]),
    )


def _conditional(raw: Any, conditions: Mapping[str, Any], parameters: Mapping[str, str]) -> Any:
    # A statement under `Fn::If`: the branch the stack's parameters choose (None for NoValue).
    if isinstance(raw, dict) and "Fn::If" in raw:
        name, when_true, when_false = raw["Fn::If"]
        chosen = when_true if template_condition({"Condition": name}, conditions, parameters) else when_false
        return None if chosen == {"Ref": "AWS::NoValue"} else chosen
    return raw


@dataclass(frozen=True)
class Policies:
    """Each function's identity statements, and the credentials key's statements."""

    roles: Mapping[str, tuple[Statement, ...]]
    key: tuple[Statement, ...]
    key_arn: str
    account_root: str


def policies(
    template: Mapping[str, Any],
    refs: Mapping[str, str],
    attributes: Mapping[tuple[str, str], str],
    *,
    with_roles: bool = True,
) -> Policies:
    """The policies of every function of `template`, resolved against a stack's resources; with
    `with_roles=False`, only the key's (what needs no stack: the parameters in `refs`)."""
    region = refs.get("AWS::Region", "us-east-1")
    account = refs.get("AWS::AccountId", ACCOUNT_ID)
    cloud = translated(template, region)
    functions = [name for name, res in cloud["Resources"].items() if res["Type"] == "AWS::Lambda::Function"]
    attributes = {
        **attributes,
        **{
            (f"{fn}{ROLE_SUFFIX}", "Arn"): f"arn:aws:iam::{account}:role/{fn}{ROLE_SUFFIX}"
            for fn in functions
        },
    }
    refs = {**refs, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
    roles: dict[str, tuple[Statement, ...]] = {}
    for function in functions if with_roles else ():
        role = cloud["Resources"][f"{function}{ROLE_SUFFIX}"]["Properties"]
        statements = [
            statement
            for policy in role.get("Policies", [])
            for raw in _list(policy["PolicyDocument"]["Statement"])
            if (statement := _statement(raw, refs, attributes, policy["PolicyName"])) is not None
        ]
        for arn in role.get("ManagedPolicyArns", []):
            own = cloud["Resources"].get(arn["Ref"]) if isinstance(arn, dict) and "Ref" in arn else None
            if own is not None and own["Type"] == "AWS::IAM::ManagedPolicy":
                # A managed policy of the template's own: its statements, by its logical id.
                statements += [
                    statement
                    for raw in _list(own["Properties"]["PolicyDocument"]["Statement"])
                    if (statement := _statement(raw, refs, attributes, arn["Ref"])) is not None
                ]
                continue
            name = _resolved(arn, refs, attributes).rsplit("/", 1)[-1]
            statements.append(Statement(MANAGED_POLICIES[name], ("*",), {}, source=name))
        roles[function] = tuple(statements)
    key_resource = cloud["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]
    # Parameters the stack does not set keep the template's defaults.
    defaults = {name: str(spec.get("Default", "")) for name, spec in cloud.get("Parameters", {}).items()}
    refs = {**defaults, **refs}
    key = tuple(
        statement
        for raw in _list(key_resource["Statement"])
        if (chosen := _conditional(raw, cloud.get("Conditions", {}), refs)) is not None
        and (statement := _statement(chosen, refs, attributes, "CredentialsKey policy", ("Allow", "Deny")))
        is not None
    )
    key_arn = attributes.get(("CredentialsKey", "Arn"), "")
    return Policies(roles, key, key_arn, f"arn:aws:iam::{account}:root")


# ---- deciding ----------------------------------------------------------------------------------


def _matches(pattern: str, value: str) -> bool:
    return fnmatch.fnmatchcase(value, pattern)


def _action_matches(pattern: str, action: str) -> bool:
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


# The condition operators `_condition_holds` decides; any other is treated as not met.
CONDITION_OPERATORS = frozenset(
    {
        "Null",
        "ForAllValues:StringLike",
        "ForAllValues:StringEquals",
        "StringLike",
        "StringEquals",
        "ArnEquals",
        "ArnLike",
        "Bool",
        "BoolIfExists",
    }
)


def _condition_holds(condition: Mapping[str, Mapping[str, Any]], access: Access) -> bool:
    for operator, tests in condition.items():
        for key, expected in tests.items():
            patterns = [str(value) for value in _list(expected)]
            values = access.values(key)
            if operator in ("Bool", "BoolIfExists"):
                if values is None:
                    if operator == "Bool":
                        return False
                elif not any(v.lower() == p.lower() for p in patterns for v in values):
                    return False
            elif operator in ("ArnEquals", "ArnLike"):
                # Both match wildcards, as IAM's do.
                if values is None or not any(_matches(p, v) for p in patterns for v in values):
                    return False
            elif operator == "Null":
                if (values is None) != (str(expected).lower() == "true"):
                    return False
            elif operator in ("ForAllValues:StringLike", "ForAllValues:StringEquals"):
                compare = _matches if operator.endswith("Like") else str.__eq__
                if values is not None and not all(any(compare(p, v) for p in patterns) for v in values):
                    return False
            elif operator in ("StringLike", "StringEquals"):
                compare = _matches if operator == "StringLike" else str.__eq__
                if values is None or not any(compare(p, v) for p in patterns for v in values):
                    return False
            else:
                return False  # an operator this check does not know: treated as not met
    return True


def _allows(statement: Statement, access: Access) -> bool:
    return (
        any(_action_matches(action, access.action) for action in statement.actions)
        and any(_matches(resource, access.resource) for resource in statement.resources)
        and _condition_holds(statement.condition, access)
    )


def role_arn(function: str, account: str = ACCOUNT_ID) -> str:
    """A function's role, as the key policy names it."""
    return f"arn:aws:iam::{account}:role/{function}{ROLE_SUFFIX}"


def key_allows(policies: Policies, principal: str, access: Access, identity_allows: bool) -> bool:
    """KMS's decision on the credentials key for `principal` (an IAM ARN, `aws:PrincipalArn`): a
    Deny that names it (or its account, or "*") wins; else an Allow that names it or "*" allows,
    and one that names its account's root allows if its own IAM policy does too (`identity_allows`)."""
    partition, account = principal.split(":")[1], principal.split(":")[4]
    own_root = f"arn:{partition}:iam::{account}:root"
    if access.values("aws:PrincipalArn") is None:
        access = Access(
            access.function,
            access.action,
            access.resource,
            tuple(sorted((*access.context, ("aws:PrincipalArn", (principal,))))),
        )
    applying = [statement for statement in policies.key if _allows(statement, access)]
    if any(
        statement.effect == "Deny" and {"*", principal, own_root} & set(statement.principals)
        for statement in applying
    ):
        return False
    return any(
        statement.effect == "Allow"
        and (
            {"*", principal} & set(statement.principals)
            or (own_root in statement.principals and identity_allows)
        )
        for statement in applying
    )


def allowed(policies: Policies, access: Access) -> bool:
    """Whether AWS would allow it. KMS (same account): the key policy decides (`key_allows`), with
    the role's own policy for what it delegates to the account."""
    identity = any(_allows(statement, access) for statement in policies.roles.get(access.function, ()))
    if not access.action.startswith("kms:") or access.resource != policies.key_arn:
        return identity
    role = role_arn(access.function, policies.account_root.split(":")[4])
    return key_allows(policies, role, access, identity)


@cache
def _access_levels() -> dict[str, str]:
    """IAM action -> access level, from parliament's copy of the IAM service reference."""
    spec = importlib.util.find_spec("parliament")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "iam_definition.json"
    levels: dict[str, str] = {}
    for service in json.loads(path.read_text()):
        for privilege in service["privileges"]:
            levels[f"{service['prefix']}:{privilege['privilege']}".lower()] = privilege["access_level"]
    return levels


def is_known_action(action: str) -> bool:
    """Whether the IAM service reference has this action."""
    return action.lower() in _access_levels()


def known_actions(service: str) -> frozenset[str]:
    """Every action of a service in the IAM service reference, lower case (`kms:decrypt`)."""
    return frozenset(action for action in _access_levels() if action.startswith(f"{service.lower()}:"))


def needs_use(action: str) -> bool:
    """Writes, and the KMS actions that reach plaintext, must each be used by some test."""
    if action.lower() in ("kms:decrypt", "kms:generatedatakey"):
        return True
    return _access_levels().get(action.lower()) in ("Write", "Permissions management", "Tagging")


@dataclass(frozen=True)
class Findings:
    """What a comparison found: accesses AWS would deny, grants no test used."""

    denied: tuple[Access, ...]
    unused: tuple[tuple[str, str, str], ...]  # (function, action, where granted)


def findings(policies: Policies, recorded: Iterable[Access]) -> Findings:
    """Compare recorded accesses with the policies that would decide them."""
    calls = sorted(set(recorded), key=lambda a: (a.function, a.action, a.resource))
    denied = tuple(access for access in calls if not allowed(policies, access))
    used = {(access.function, access.action.lower()) for access in calls}
    unused: list[tuple[str, str, str]] = []
    for function, statements in policies.roles.items():
        for statement in statements:
            for action in statement.actions:
                if action in RUNTIME_EXTRAS or not needs_use(action):
                    continue
                if (function, action.lower()) not in used:
                    unused.append((function, action, statement.source))
    for statement in policies.key:
        if statement.effect != "Allow":
            continue
        for principal in statement.principals:
            function = principal.rsplit("/", 1)[-1].removesuffix(ROLE_SUFFIX)
            if function not in policies.roles:
                continue  # the root, a break-glass role: not a function
            for action in statement.actions:
                if needs_use(action) and (function, action.lower()) not in used:
                    unused.append((function, action, statement.source))
    return Findings(denied, tuple(sorted(set(unused))))


def read_record(path: Path) -> tuple[dict[str, str], dict[tuple[str, str], str], list[Access]]:
    """A stack's record: its resources (the first line) and every access after it."""
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    header = lines[0]["resources"]
    refs = dict(header["refs"])
    attributes = {(logical, name): value for logical, name, value in header["attributes"]}
    return refs, attributes, [Access.from_json(line) for line in lines[1:]]


def placeholder_resources(
    template: Mapping[str, Any], region: str = "us-east-1", account: str = ACCOUNT_ID
) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Refs and attributes for deciding on a template without a stack: the parameters' defaults,
    each resource named by its logical id, each `Arn` a placeholder ARN of its own."""
    refs = {
        **{name: str(spec.get("Default", "")) for name, spec in template.get("Parameters", {}).items()},
        **{logical: logical for logical in template["Resources"]},
        "AWS::Region": region,
        "AWS::AccountId": account,
    }
    attributes: dict[tuple[str, str], str] = {}
    for logical in template["Resources"]:
        attributes[(logical, "Arn")] = f"arn:aws:placeholder:{region}:{account}:{logical}"
        attributes[(logical, "QueueName")] = logical
    return refs, attributes


def template_policies(refs: Mapping[str, str], attributes: Mapping[tuple[str, str], str]) -> Policies:
    """template.yaml's policies for a stack."""
    return policies(load_template(), refs, attributes)
