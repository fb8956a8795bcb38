"""`credentials-admin`: mint, list and revoke API keys.

It finds the keys table as the functions do (API_KEYS_TABLE_NAME, the stack's ApiKeysTableName
output; boto3's usual credentials and endpoint configuration): the functions may only read that
table, so minting takes an operator's credentials. It knows nothing of the local stack:
`credentials-local-admin` (local_stack.admin) runs it against the embedded AWS of `make run`.
"""

import argparse
import os
import secrets
import string
import sys
from collections.abc import Sequence

import boto3
from integration_credentials.adapters.auth import api_key_id, hash_api_key
from integration_credentials.adapters.storage.api_keys import ApiKeyRepository
from integration_credentials.core.constants import ALL_SCOPES, API_KEY_LIVE_PREFIX, ORG_ID_PATTERN
from integration_credentials.core.models import utc_timestamp

_ALPHABET = string.ascii_letters + string.digits
KEY_RANDOM_CHARS = 40  # 40 base62 characters: about 238 random bits


def generate_api_key() -> str:
    """A new key in the seed's shape: sk_live_ and 40 random base62 characters."""
    random_part = "".join(secrets.choice(_ALPHABET) for _ in range(KEY_RANDOM_CHARS))
    return f"{API_KEY_LIVE_PREFIX}{random_part}"


class MissingTableError(Exception):
    """API_KEYS_TABLE_NAME is not set."""


def repository_from_environment() -> ApiKeyRepository:
    """The API key repository the functions would use (API_KEYS_TABLE_NAME)."""
    table_name = os.environ.get("API_KEYS_TABLE_NAME")
    if not table_name:
        raise MissingTableError(
            "set API_KEYS_TABLE_NAME to the stack's ApiKeysTableName output "
            "(for the local stack of `make run`: uv run credentials-local-admin ...)"
        )
    return ApiKeyRepository(table_name, boto3.client("dynamodb"))


def create_api_key(
    repository: ApiKeyRepository, org_id: str, scopes: frozenset[str] = ALL_SCOPES
) -> tuple[str, str]:
    """Mint a key for an org with these scopes (all by default); returns (key, key id). Only the
    key's hash is stored."""
    key = generate_api_key()
    key_hash = hash_api_key(key)
    repository.add(key_hash, api_key_id(key_hash), org_id, utc_timestamp(), scopes)
    return key, api_key_id(key_hash)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="credentials-admin", description=__doc__.splitlines()[0])
    groups = parser.add_subparsers(dest="group", required=True)
    api_keys = groups.add_parser("api-keys", help="manage API keys").add_subparsers(
        dest="command", required=True
    )
    create = api_keys.add_parser("create", help="mint a key for an org and print it (once)")
    create.add_argument("--org-id", required=True)
    create.add_argument(
        "--scope",
        action="append",
        choices=sorted(ALL_SCOPES),
        help="what the key may do (repeatable; default: every scope)",
    )
    listing = api_keys.add_parser(
        "list", help="list keys: id, org, created, scopes, status (never the keys themselves)"
    )
    listing.add_argument("--org-id")
    revoke = api_keys.add_parser("revoke", help="revoke a key by its id")
    revoke.add_argument("key_id")
    args = parser.parse_args(argv)

    import re

    from integration_credentials.core.errors import DependencyError

    try:
        repository = repository_from_environment()
    except MissingTableError as error:
        parser.error(str(error))
    try:
        if args.command == "create":
            if not re.fullmatch(ORG_ID_PATTERN, args.org_id):
                parser.error(f"--org-id must match {ORG_ID_PATTERN}")
            scopes = frozenset(args.scope) if args.scope else ALL_SCOPES
            key, _key_id = create_api_key(repository, args.org_id, scopes)
            print(key)
            return 0
        if args.command == "list":
            for row in sorted(repository.scan(), key=lambda r: r.get("created_at", "")):
                if args.org_id and row.get("org_id") != args.org_id:
                    continue
                status = "revoked " + row["revoked_at"] if row.get("revoked_at") else "active"
                created = row.get("created_at", "")
                print(f"{row['key_id']}\t{row['org_id']}\t{created}\t{row['scopes']}\t{status}")
            return 0
        matches = [r for r in repository.scan() if r["key_id"] == args.key_id]
        if not matches:
            print(f"no API key with id {args.key_id}", file=sys.stderr)
            return 1
        key_hash = matches[0]["key_hash"]
        if not repository.revoke(key_hash, utc_timestamp()):
            print(f"API key {args.key_id} is already revoked", file=sys.stderr)
            return 1
        print(
            f"revoked {args.key_id} (warm functions may accept it for up to API_KEY_CACHE_SECONDS)",
            file=sys.stderr,
        )
        return 0
    except DependencyError as error:
        print(f"cannot reach the API keys table: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
