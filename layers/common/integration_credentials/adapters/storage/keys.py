"""The table's key layout (partition `org_id`, sort `provider`):

- credentials:  (<org_id>, <provider>)       id, version, created_at, updated_at, ciphertext
- id mirror:    ("ID#<id>", "ID")            id, owner_org_id, owner_provider: the row's key
- org count:    ("ORGCOUNT#<org_id>", "COUNT") credentials_count (MAX_CREDENTIALS_PER_ORG)

A credential and its mirror are created and deleted together in one transaction, so by-id routes
read the mirror, then the row it names, each with a strongly consistent GetItem (no eventually
consistent index on the happy path). Nothing else writes a mirror: every update is the row's alone.
API keys live in a table of their own (`api_keys`), which the functions may only read.
Credentials rows that are due for a token refresh also carry `refresh_shard` and `refresh_due`,
the keys of the sparse `refresh-due` index.
"""

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ...core.constants import (
    ID_MIRROR_PREFIX,
    ID_MIRROR_SORT_KEY,
    ORG_COUNT_PREFIX,
    ORG_COUNT_SORT_KEY,
    REFRESH_SHARDS,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Key = dict[str, "AttributeValueTypeDef"]
Item = Mapping[str, "AttributeValueTypeDef"]


def credentials_key(org_id: str, provider: str) -> Key:
    """Key of a credentials row."""
    return {"org_id": {"S": org_id}, "provider": {"S": provider}}


def id_mirror_key(credentials_id: str) -> Key:
    """Key of the id mirror of a credentials row."""
    return {"org_id": {"S": ID_MIRROR_PREFIX + credentials_id}, "provider": {"S": ID_MIRROR_SORT_KEY}}


def org_count_key(org_id: str) -> Key:
    """Key of the item that counts an org's credentials."""
    return {"org_id": {"S": ORG_COUNT_PREFIX + org_id}, "provider": {"S": ORG_COUNT_SORT_KEY}}


def refresh_shard(credentials_id: str) -> str:
    """The `refresh-due` index partition of a credential: its id spread over REFRESH_SHARDS.
    The same hash modulo 16, the count before, gave a label that is still a shard."""
    return str(int(hashlib.sha256(credentials_id.encode()).hexdigest()[:8], 16) % REFRESH_SHARDS)
