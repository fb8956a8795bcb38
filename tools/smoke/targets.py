"""Targets: a deployed stack, a base URL, the local stack; the keys it mints are revoked on the way out."""

import os
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from .audit import AUDIT_TIMEOUT_DEPLOYED_SECONDS, AUDIT_TIMEOUT_LOCAL_SECONDS, AuditBucket, AuditFile
from .errors import SetupError
from .expect import expect
from .http import HTTP_TIMEOUT_SECONDS, is_loopback
from .state import Target

REQUIRED_OUTPUTS = ("ApiUrl", "ApiKeysTableName", "CredentialsTableName", "AuditBucketName")
# Where a line for the operator goes (the suite's terminal).
Say = Callable[[str], None]


@dataclass(frozen=True)
class TargetOptions:
    """The suite's options (tools/smoke/suite/conftest.py); API keys never among them."""

    stack_name: str | None = None
    base_url: str | None = None
    table_name: str | None = None
    aws_endpoint_url: str | None = None
    audit_bucket: str | None = None
    audit_file: str | None = None
    audit_timeout: float | None = None
    http_timeout: float = HTTP_TIMEOUT_SECONDS


def write_only_key() -> str | None:
    """With given keys, a write-only key of the first org comes from SMOKE_WRITE_ONLY_API_KEY."""
    return os.environ.get("SMOKE_WRITE_ONLY_API_KEY") or None


@contextmanager
def temporary_keys(repository: Any, say: Say) -> Iterator[tuple[str, str, str]]:
    """Two keys (every scope) for two fresh orgs, and a write-only key of the first org, revoked
    on the way out whatever happened."""
    from credentials_admin.cli import create_api_key
    from integration_credentials.adapters.auth import hash_api_key
    from integration_credentials.core.constants import ALL_SCOPES, SCOPE_WRITE
    from integration_credentials.core.models import utc_timestamp

    minted: list[tuple[str, str, str]] = []

    def revoke() -> None:
        refused = [
            key_id for key, key_id, _ in minted if not repository.revoke(hash_api_key(key), utc_timestamp())
        ]
        expect(not refused, f"not revoked: {', '.join(refused)}")

    try:
        orgs = [f"smoke-{uuid.uuid4()}", f"smoke-{uuid.uuid4()}"]
        for org_id, scopes in (
            (orgs[0], ALL_SCOPES),
            (orgs[1], ALL_SCOPES),
            (orgs[0], frozenset({SCOPE_WRITE})),
        ):
            try:
                key, key_id = create_api_key(repository, org_id, scopes)
            except Exception as error:
                raise SetupError(f"cannot mint an API key: {type(error).__name__}: {error}") from None
            minted.append((key, key_id, org_id))
        say("smoke: temporary API keys " + ", ".join(f"{key_id} (org {org})" for _, key_id, org in minted))
        yield minted[0][0], minted[1][0], minted[2][0]
    finally:
        if minted:
            revoke()
            say("smoke: the temporary API keys are revoked")


def stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def local_clients(endpoint: str) -> tuple[Any, Any]:
    """(dynamodb, kms) clients of a local stack's embedded AWS (its fake credentials)."""
    from local_stack.embedded_aws import FAKE_CREDENTIALS

    session = boto3.session.Session(
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        region_name=FAKE_CREDENTIALS["AWS_DEFAULT_REGION"],
    )
    return session.client("dynamodb", endpoint_url=endpoint), session.client("kms", endpoint_url=endpoint)


@contextmanager
def target_of(
    args: TargetOptions, api_key: str | None, other_api_key: str | None, say: Say
) -> Iterator[Target]:
    """The target the arguments name; minted keys are revoked when the context ends."""
    if (api_key is None) != (other_api_key is None):
        raise SetupError("give both SMOKE_API_KEY and SMOKE_OTHER_API_KEY (two orgs), or neither")
    if args.stack_name:
        if args.base_url or api_key:
            raise SetupError("STACK_NAME reads the URL and mints its own keys: give no BASE_URL or API keys")
        with deployed_target(args, say) as target:
            yield target
        return
    base_url = args.base_url or f"http://127.0.0.1:{int(os.environ.get('PORT', '3000'))}"
    if is_loopback(base_url):
        with local_target(args, base_url, api_key, other_api_key, say) as target:
            yield target
        return
    if api_key is None or other_api_key is None:
        raise SetupError(
            f"{base_url} is not local: give SMOKE_API_KEY and SMOKE_OTHER_API_KEY, or STACK_NAME"
        )
    target = Target(
        base_url,
        api_key,
        other_api_key,
        "given API keys",
        write_only_api_key=write_only_key(),
        http_timeout=args.http_timeout,
    )
    session = boto3.session.Session()
    if args.table_name:
        target.dynamodb = session.client("dynamodb", endpoint_url=args.aws_endpoint_url)
        target.table_name = args.table_name
    if args.audit_bucket:
        target.audit = AuditBucket(
            session.client("s3", endpoint_url=args.aws_endpoint_url), args.audit_bucket
        )
        target.audit_timeout = AUDIT_TIMEOUT_DEPLOYED_SECONDS
    elif args.audit_file:
        target.audit = AuditFile(Path(args.audit_file))
    if args.audit_timeout is not None:
        target.audit_timeout = args.audit_timeout
    yield target


@contextmanager
def deployed_target(args: TargetOptions, say: Say) -> Iterator[Target]:
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository

    assert args.stack_name
    session = boto3.session.Session()
    try:
        outputs = stack_outputs(session.client("cloudformation"), args.stack_name)
    except Exception as error:
        raise SetupError(f"cannot read the outputs of stack {args.stack_name}: {error}") from None
    missing = [name for name in REQUIRED_OUTPUTS if not outputs.get(name)]
    if missing:
        raise SetupError(f"stack {args.stack_name} has no output {', '.join(missing)}")
    dynamodb = session.client("dynamodb")
    repository = ApiKeyRepository(outputs["ApiKeysTableName"], dynamodb)
    with temporary_keys(repository, say) as (api_key, other_api_key, write_only_api_key):
        yield Target(
            write_only_api_key=write_only_api_key,
            base_url=outputs["ApiUrl"],
            api_key=api_key,
            other_api_key=other_api_key,
            description=f"stack {args.stack_name}, temporary keys",
            dynamodb=dynamodb,
            table_name=outputs["CredentialsTableName"],
            audit=AuditBucket(session.client("s3"), outputs["AuditBucketName"]),
            audit_timeout=AUDIT_TIMEOUT_DEPLOYED_SECONDS
            if args.audit_timeout is None
            else args.audit_timeout,
            public_text=(outputs.get("CredentialsKeyArn", ""),),
            http_timeout=args.http_timeout,
        )


@contextmanager
def local_target(
    args: TargetOptions, base_url: str, api_key: str | None, other_api_key: str | None, say: Say
) -> Iterator[Target]:
    from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
    from local_stack.provisioning import API_KEYS_TABLE, LOCAL_TABLE_NAME, local_table_name
    from local_stack.template import ROOT

    port = urllib.parse.urlsplit(base_url).port or 80
    endpoint = args.aws_endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or f"http://127.0.0.1:{port + 1}"
    dynamodb, kms = local_clients(endpoint)
    audit_file = (
        args.audit_file or os.environ.get("AUDIT_LOG_FILE") or ROOT / ".local" / f"audit-{port}.jsonl"
    )
    try:
        key_arns = tuple(key["KeyArn"] for key in kms.list_keys()["Keys"])
    except Exception as error:
        raise SetupError(
            f"no embedded AWS at {endpoint} (is `make run` serving {base_url}?): {error}"
        ) from None

    def target(keys: tuple[str, str, str | None], description: str) -> Target:
        return Target(
            write_only_api_key=keys[2],
            base_url=base_url,
            api_key=keys[0],
            other_api_key=keys[1],
            description=f"local stack, embedded AWS {endpoint}, {description}",
            dynamodb=dynamodb,
            table_name=args.table_name or LOCAL_TABLE_NAME,
            audit=AuditFile(Path(audit_file)),
            audit_timeout=AUDIT_TIMEOUT_LOCAL_SECONDS if args.audit_timeout is None else args.audit_timeout,
            public_text=key_arns,
            http_timeout=args.http_timeout,
        )

    if api_key is not None and other_api_key is not None:
        yield target((api_key, other_api_key, write_only_key()), "given API keys")
        return
    repository = ApiKeyRepository(local_table_name(API_KEYS_TABLE), dynamodb)
    with temporary_keys(repository, say) as keys:
        yield target(keys, "temporary keys")
