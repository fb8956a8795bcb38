"""Who can reach the plaintext through the credentials key, evaluated: every statement of the key
policy as the SAM translator hands it to CloudFormation, for every principal that matters and every
action that uses the key or widens who may (a grant, a policy change, a replica under a policy of
one's own), under every request context that changes the answer, denies honoured. Every principal's
own IAM policy is assumed to allow everything (`kms:*` on `*`): the key policy alone must hold."""

import copy
import itertools
import re
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest
from local_stack import iam
from local_stack.template import ROOT as REPO_ROOT
from local_stack.template import load_template, resources_of_type

# Which functions encrypt and which only decrypt: one list, the key policy's test's.
from tests.infrastructure.test_key_policies import READERS, WRITERS

ACCOUNT = iam.ACCOUNT_ID
KEY_ARN = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-credentials"
BREAK_GLASS = f"arn:aws:iam::{ACCOUNT}:role/incident-response"
KEY_ADMINISTRATOR_NAME = "deploy/integration-credentials-deployer"
KEY_ADMINISTRATOR = f"arn:aws:iam::{ACCOUNT}:role/{KEY_ADMINISTRATOR_NAME}"
# The same name without the path: another role, which must not pass for the key administrator.
LOOKALIKE = f"arn:aws:iam::{ACCOUNT}:role/integration-credentials-deployer"
ADMIN = f"arn:aws:iam::{ACCOUNT}:role/Admin"
ACCOUNT_ROOT_USER = f"arn:aws:iam::{ACCOUNT}:root"
OTHER_ACCOUNT = "arn:aws:iam::999999999999:role/Admin"

# The data plane: what encrypts, decrypts or makes data keys under the key.
DATA_PLANE = frozenset(
    {
        "kms:Encrypt",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
    }
)
# What leads to the data plane: a grant, a new policy, a replica key with a policy of the caller's.
ESCALATING = frozenset({"kms:CreateGrant", "kms:PutKeyPolicy", "kms:ReplicateKey"})
# A credential's encryption context (what the key policy's data-plane statements require), or none.
ENCRYPTION_CONTEXTS: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (
        ("kms:EncryptionContextKeys", ("id", "org_id", "provider")),
        ("kms:EncryptionContext:id", ("<present>",)),
        ("kms:EncryptionContext:org_id", ("<present>",)),
        ("kms:EncryptionContext:provider", ("<present>",)),
    ),
    (),
)
# A grant an AWS service makes for a resource of its own, one a caller makes, or the key absent.
GRANT_CONTEXTS: tuple[tuple[tuple[str, tuple[str, ...]], ...], ...] = (
    (("kms:GrantIsForAWSResource", ("true",)),),
    (("kms:GrantIsForAWSResource", ("false",)),),
    (),
)


def role(function: str) -> str:
    return iam.role_arn(function)


def parameters(*, break_glass: bool, key_administrator: bool) -> dict[str, str]:
    return {
        "AWS::Region": "us-east-1",
        "AWS::AccountId": ACCOUNT,
        "BreakGlassRoleArn": BREAK_GLASS if break_glass else "",
        "KeyAdministratorRoleName": KEY_ADMINISTRATOR_NAME if key_administrator else "",
    }


def key_policy(template: dict[str, Any], **configuration: bool) -> iam.Policies:
    return iam.policies(
        template, parameters(**configuration), {("CredentialsKey", "Arn"): KEY_ARN}, with_roles=False
    )


def principals() -> list[str]:
    functions = resources_of_type("AWS::Serverless::Function")
    return [role(function) for function in functions] + [
        BREAK_GLASS,
        KEY_ADMINISTRATOR,
        LOOKALIKE,
        ADMIN,
        ACCOUNT_ROOT_USER,
        OTHER_ACCOUNT,
    ]


def requests(action: str) -> Iterator[iam.Access]:
    for encryption, grant in itertools.product(ENCRYPTION_CONTEXTS, GRANT_CONTEXTS):
        yield iam.Access("", action, KEY_ARN, tuple(sorted(encryption + grant)))


def reach(policies: iam.Policies) -> dict[str, set[str]]:
    """Principal -> the data-plane and escalating actions some request of theirs is allowed."""
    found: dict[str, set[str]] = {}
    for principal, action in itertools.product(principals(), sorted(DATA_PLANE | ESCALATING)):
        if any(
            iam.key_allows(policies, principal, access, identity_allows=True) for access in requests(action)
        ):
            found.setdefault(principal, set()).add(action)
    return found


def expected_reach(*, break_glass: bool, key_administrator: bool) -> dict[str, set[str]]:
    expected = {role(function): {"kms:GenerateDataKey", "kms:Decrypt"} for function in WRITERS}
    expected |= {role(function): {"kms:Decrypt"} for function in READERS}
    if break_glass:
        expected[BREAK_GLASS] = {"kms:Decrypt"}
    # The deploying principal changes the policy (CloudFormation does, as it). Named, only it;
    # unnamed (dev), whoever the account's IAM lets: every principal of the account.
    in_account = [principal for principal in principals() if f":{ACCOUNT}:" in principal]
    for principal in [KEY_ADMINISTRATOR] if key_administrator else in_account:
        expected.setdefault(principal, set()).add("kms:PutKeyPolicy")
    return expected


CONFIGURATIONS = [
    pytest.param(
        {"break_glass": glass, "key_administrator": admin}, id=f"break_glass={glass}-key_admin={admin}"
    )
    for glass, admin in itertools.product([False, True], repeat=2)
]


@pytest.mark.parametrize("configuration", CONFIGURATIONS)
def test_only_the_functions_break_glass_and_key_administrator_reach_the_plaintext(configuration):
    # Given the key policy of a stack with or without a break-glass role and a key administrator
    policies = key_policy(load_template(), **configuration)
    # When every principal tries every data-plane and escalating action, in every request context
    # Then exactly the function roles that need it use the key, the break-glass role (when named)
    # decrypts, and only the key administrator (when named) may change the policy; nobody grants
    assert reach(policies) == expected_reach(**configuration)


def test_in_prod_an_account_admin_with_kms_star_gets_nothing_that_leads_to_plaintext():
    policies = key_policy(load_template(), break_glass=True, key_administrator=True)
    allowed_somewhere = {
        action
        for action in iam.known_actions("kms")
        for access in requests(action)
        if iam.key_allows(policies, ADMIN, access, identity_allows=True)
    }
    assert allowed_somewhere  # it administers the key...
    assert not {action.lower() for action in DATA_PLANE | ESCALATING} & allowed_somewhere  # ...and no more


@pytest.mark.parametrize(
    ("widened", "reached"),
    [
        ("kms:*", "kms:Decrypt"),
        ("kms:Create*", "kms:CreateGrant"),  # through an AWS service's grant: the deny leaves that one
        ("kms:Put*", "kms:PutKeyPolicy"),
        ("kms:ReEncrypt*", "kms:ReEncryptFrom"),
        ("kms:Re*", "kms:ReplicateKey"),
    ],
)
def test_a_wildcard_given_back_to_the_account_is_caught(widened, reached):
    # Given the account's administrative statement with one wildcard added back
    template = copy.deepcopy(load_template())
    [statement] = [
        s
        for s in template["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
        if s.get("Sid") == "AccountAdministersKeyWithoutDataPlane"
    ]
    statement["Action"] = [*statement["Action"], widened]
    # When the prod-like policy is evaluated
    policies = key_policy(template, break_glass=True, key_administrator=True)
    # Then an account admin reaches the plaintext, and the evaluation says so
    assert reached in reach(policies).get(ADMIN, set())
    assert reach(policies) != expected_reach(break_glass=True, key_administrator=True)


def test_the_grant_deny_holds_even_against_an_allow_of_everything():
    # Given a key policy that also allows the account every KMS action
    template = copy.deepcopy(load_template())
    template["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"].append(
        {
            "Effect": "Allow",
            "Principal": {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}},
            "Action": "kms:*",
            "Resource": "*",
        }
    )
    policies = key_policy(template, break_glass=False, key_administrator=True)

    def may_grant(grant: tuple[tuple[str, tuple[str, ...]], ...]) -> bool:
        access = iam.Access("", "kms:CreateGrant", KEY_ARN, grant)
        return iam.key_allows(policies, ADMIN, access, identity_allows=True)

    # Then an admin still cannot create a grant (for itself or anyone), unless an AWS service
    # creates it for a resource of its own
    assert not may_grant((("kms:GrantIsForAWSResource", ("false",)),))
    assert not may_grant(())
    assert may_grant((("kms:GrantIsForAWSResource", ("true",)),))


def test_the_key_policy_allows_only_actions_it_names_one_by_one():
    known = iam.known_actions("kms")
    for configuration in (c.values[0] for c in CONFIGURATIONS):
        policies = key_policy(load_template(), **configuration)
        for statement in policies.key:
            if statement.effect == "Allow":
                assert all(action.lower() in known for action in statement.actions), statement.actions
        # Every condition is one the evaluation understands (an unknown one would count as unmet).
        operators = {operator for statement in policies.key for operator in statement.condition}
        assert operators <= iam.CONDITION_OPERATORS


def test_the_lists_cover_every_data_plane_action_of_the_catalogue():
    prefixes = ("kms:encrypt", "kms:decrypt", "kms:generatedatakey", "kms:reencrypt")
    catalogue = {action for action in iam.known_actions("kms") if action.startswith(prefixes)}
    assert catalogue == {action.lower() for action in DATA_PLANE}
    assert {action.lower() for action in ESCALATING} <= iam.known_actions("kms")


def _rule_passes(environment: str, key_administrator: str) -> bool:
    template = load_template()
    rule = template["Rules"]["ProdNamesKeyAdministrator"]
    values = {"Environment": environment, "KeyAdministratorRoleName": key_administrator}
    if not iam.template_condition(rule["RuleCondition"], {}, values):
        return True
    return all(iam.template_condition(check["Assert"], {}, values) for check in rule["Assertions"])


def test_prod_cannot_be_deployed_without_a_key_administrator():
    assert not _rule_passes("prod", "")
    assert _rule_passes("prod", KEY_ADMINISTRATOR_NAME)
    assert _rule_passes("dev", "")
    assert load_template()["Parameters"]["KeyAdministratorRoleName"]["Default"] == ""


def test_samconfig_names_the_key_administrator_for_prod():
    config = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
    overrides = dict(
        item.split("=", 1) for item in config["prod"]["deploy"]["parameters"]["parameter_overrides"].split()
    )
    name = overrides.get("KeyAdministratorRoleName", "")
    assert _rule_passes(overrides["Environment"], name)
    assert re.fullmatch(load_template()["Parameters"]["KeyAdministratorRoleName"]["AllowedPattern"], name)


@pytest.mark.parametrize(
    ("name", "accepted"),
    [
        ("", True),
        ("integration-credentials-deployer", True),
        ("aws-reserved/sso.amazonaws.com/AWSReservedSSO_Deploy_0123abcd", True),
        ("/integration-credentials-deployer", False),  # a path is written without its leading slash
        ("deployer/", False),
        ("deploy*", False),  # no wildcard: one role
        ("arn:aws:iam::123456789012:role/deployer", False),  # the name, not the ARN
    ],
)
def test_the_key_administrator_is_one_role_by_name(name, accepted):
    pattern = load_template()["Parameters"]["KeyAdministratorRoleName"]["AllowedPattern"]
    assert bool(re.fullmatch(pattern, name)) is accepted
