"""How the credentials key's policy is written, read from template.yaml: the function roles that
need it, by ARN, only with a credential's encryption context (who can reach what, evaluated, is
test_key_access.py's)."""

import json
from typing import Any

import pytest
from local_stack.template import load_template, resources_of_type

# A data-plane action uses the key on data (anything that encrypts, decrypts or makes data keys).
DATA_PLANE_PREFIXES = ("kms:encrypt", "kms:decrypt", "kms:reencrypt", "kms:generatedatakey", "kms:*", "*")
CONTEXT_CONDITION = {
    "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["org_id", "provider", "id"]},
    "Null": {
        "kms:EncryptionContext:org_id": "false",
        "kms:EncryptionContext:provider": "false",
        "kms:EncryptionContext:id": "false",
    },
}
WRITERS = {
    "CreateCredentialsFunction",
    "UpdateCredentialsFunction",
    "RefreshCredentialsFunction",
    "RefreshWorkerFunction",
    "VerifyCredentialsFunction",
    # The connect flow: its state is encrypted like credentials (and a reconnect reads hints).
    "ConnectCredentialsFunction",
    "OAuthCallbackFunction",
}
READERS = {"ListCredentialsFunction", "GetCredentialsFunction", "GetCredentialsByProviderFunction"}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def key_statements() -> list[dict[str, Any]]:
    """The credentials key's statements, both branches of the conditional ones (`Fn::If`)."""
    statements = []
    for statement in resources_of_type("AWS::KMS::Key")["CredentialsKey"]["Properties"]["KeyPolicy"][
        "Statement"
    ]:
        if "Fn::If" in statement:
            _condition, when_true, when_false = statement["Fn::If"]
            statements += [branch for branch in (when_true, when_false) if branch != {"Ref": "AWS::NoValue"}]
        else:
            statements.append(statement)
    return statements


def is_data_plane(statement: dict[str, Any]) -> bool:
    return any(str(action).lower().startswith(DATA_PLANE_PREFIXES) for action in _list(statement["Action"]))


def names_root(statement: dict[str, Any]) -> bool:
    principal = json.dumps(statement.get("Principal"))
    return ":root" in principal or principal in ('"*"', '{"AWS": "*"}')


def principals(statement: dict[str, Any]) -> set[str]:
    """The function logical ids whose roles a statement names (`!GetAtt <Function>Role.Arn`)."""
    named = set()
    for principal in _list(statement["Principal"]["AWS"]):
        if isinstance(principal, dict) and "Fn::GetAtt" in principal:
            role = (
                principal["Fn::GetAtt"][0]
                if isinstance(principal["Fn::GetAtt"], list)
                else principal["Fn::GetAtt"]
            )
            named.add(str(role).split(".")[0].removesuffix("Role"))
    return named


def test_every_data_plane_statement_is_bound_to_a_credentials_context_and_never_to_the_root():
    data_plane = [statement for statement in key_statements() if is_data_plane(statement)]
    assert len(data_plane) == 3
    for statement in data_plane:
        assert statement["Effect"] == "Allow"
        assert not names_root(statement), statement["Sid"]
        assert statement["Condition"] == CONTEXT_CONDITION, statement["Sid"]
        assert "kms:ViaService" not in json.dumps(statement), statement["Sid"]


def test_writers_make_data_keys_and_readers_only_decrypt():
    by_actions = {
        frozenset(_list(statement["Action"])): principals(statement)
        for statement in key_statements()
        if is_data_plane(statement) and "Fn::GetAtt" in json.dumps(statement["Principal"])
    }
    assert by_actions == {
        frozenset({"kms:GenerateDataKey", "kms:Decrypt"}): WRITERS,
        frozenset({"kms:Decrypt"}): READERS,
    }
    # Delete, the scheduler and its shard scanner never touch the key.
    functions = set(resources_of_type("AWS::Serverless::Function"))
    assert functions - WRITERS - READERS == {
        "DeleteCredentialsFunction",
        "RefreshSchedulerFunction",
        "RefreshShardScannerFunction",
    }


def test_break_glass_is_a_parameter_and_off_by_default():
    template = load_template()
    [conditional] = [
        s
        for s in template["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
        if "Fn::If" in s and s["Fn::If"][0] == "HasBreakGlassRole"
    ]
    condition, statement, otherwise = conditional["Fn::If"]
    assert condition == "HasBreakGlassRole"
    assert statement["Principal"] == {"AWS": {"Ref": "BreakGlassRoleArn"}}
    assert _list(statement["Action"]) == ["kms:Decrypt"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Parameters"]["BreakGlassRoleArn"]["Default"] == ""


def test_no_function_policy_grants_kms_itself():
    # The key policy names the roles; an IAM grant as well would be a second door (and a cycle).
    managed = resources_of_type("AWS::IAM::ManagedPolicy")
    for name, function in resources_of_type("AWS::Serverless::Function").items():
        for policy in function["Properties"].get("Policies", []):
            if "Ref" in policy:
                policy = managed[policy["Ref"]]["Properties"]["PolicyDocument"]
            for statement in policy.get("Statement", []):
                actions = [str(action) for action in _list(statement["Action"])]
                assert not any(action.startswith("kms:") for action in actions), name


@pytest.mark.parametrize("name", ["JwtSecretParameterName", "OAuthClientParameterPrefix"])
def test_secure_strings_are_not_documented_under_the_credentials_key(name):
    assert "--key-id" not in load_template()["Parameters"][name]["Description"]


def test_the_audit_bucket_keeps_records_under_object_lock():
    bucket = resources_of_type("AWS::S3::Bucket")["AuditBucket"]["Properties"]
    assert bucket["ObjectLockEnabled"] is True
    retention = bucket["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert retention == {"Mode": "GOVERNANCE", "Days": {"Ref": "AuditRetentionDays"}}
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
