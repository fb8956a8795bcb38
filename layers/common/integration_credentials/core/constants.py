"""Contract texts and storage key layout, in one place."""

from typing import Final

# Error texts fixed by the seed documents.
UNAUTHORIZED_DETAIL: Final = "Invalid or missing authentication credentials"
FORBIDDEN_DETAIL: Final = "You do not have permission to access this resource"

# Provider ids are lowercase identifiers: "salesforce", "hubspot", "ms_dynamics", "my-crm".
PROVIDER_PATTERN: Final = r"^[a-z][a-z0-9_-]{0,63}$"
# Org ids come from API keys and JWT claims; "#" is reserved for the table's non-org partitions.
ORG_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$"

# Single-table layout: credentials live under (org_id, provider); these prefixes name other items.
ID_MIRROR_PREFIX: Final = "ID#"
ID_MIRROR_SORT_KEY: Final = "ID"
# How many credentials an org holds, kept in the create and delete transactions.
ORG_COUNT_PREFIX: Final = "ORGCOUNT#"
ORG_COUNT_SORT_KEY: Final = "COUNT"

API_KEY_LIVE_PREFIX: Final = "sk_live_"
# What a key or token may do; each route needs one. A key minted without scopes may do all three;
# a token without a `scope` or `scp` claim, what JWT_DEFAULT_SCOPES says (all three by default).
SCOPE_READ: Final = "credentials:read"
SCOPE_WRITE: Final = "credentials:write"
SCOPE_REFRESH: Final = "credentials:refresh"
ALL_SCOPES: Final = frozenset({SCOPE_READ, SCOPE_WRITE, SCOPE_REFRESH})
API_KEY_PATTERN: Final = r"^sk_(live|test)_[A-Za-z0-9]{32,128}$"

# If-Match (RFC 9110): "*" or a list of entity tags, strong ("3") or weak (W/"3"), with optional
# white space (space and tab only: what HTTP allows in a header). An empty value is accepted and
# means no precondition, as an absent header does.
IF_MATCH_PATTERN: Final = (
    r'^[ \t]*(|\*|(W/)?"[\x21\x23-\x7e]*"([ \t]*,[ \t]*(W/)?"[\x21\x23-\x7e]*")*)[ \t]*$'
)
# The providers whose grants can be revoked one by one at the CRM (a DELETE enqueues their
# revocation). Dynamics (Entra ID) has no per-token revocation, `custom` no known endpoint.
# Here, not only in adapters.providers, so the delete route knows without importing the provider
# clients (`adapters.providers.REVOCABLE_PROVIDERS` is this set).
REVOCABLE_PROVIDERS: Final = frozenset({"salesforce", "hubspot", "pipedrive", "zoho"})

# A boolean query parameter (`?revoke=false`): exactly `true` or `false`, anything else a 400.
BOOLEAN_PATTERN: Final = r"^(true|false)$"

# Every timestamp the service writes: UTC, ISO 8601 with microseconds and a Z.
TIMESTAMP_FORMAT: Final = "%Y-%m-%dT%H:%M:%S.%fZ"

MAX_ACCESS_TOKEN_CHARS: Final = 16_384
MAX_DSN_CHARS: Final = 2_048

# Token refresh: the sparse index of credentials due for refresh (template.yaml declares it), and
# how many partitions its due rows are spread over (a run's shard scanners query each one once).
# 64 keeps each index partition under a tenth of its 1,000 WCU/s at 10,000,000 one-hour tokens
# (docs/performance.md). A multiple of the 16 rows were once spread over: a row written then
# carries a label (0-15) that is still one of the shards, so its due time is still found, and its
# next write moves it to its shard of 64.
REFRESH_INDEX_NAME: Final = "refresh-due"
REFRESH_SHARDS: Final = 64
# Most credentials per provider one scheduler run enqueues (all its shard scanners together);
# REFRESH_PROVIDER_LIMITS overrides.
DEFAULT_PROVIDER_LIMIT: Final = 1000

# The CRMs with an OAuth refresh client (one module each in adapters/providers; a unit test
# holds the two lists equal). Here so that the refresh schedule needs no provider client loaded.
REFRESHABLE_PROVIDERS: Final = frozenset({"salesforce", "hubspot", "pipedrive", "zoho", "dynamics"})
# The CRMs with an identity call (`adapters.providers.IDENTIFIABLE_PROVIDERS`; a unit test holds the
# two equal): their credentials can be verified, and the scheduler verifies those no refresh touches.
IDENTIFIABLE_PROVIDERS: Final = frozenset({"salesforce", "hubspot", "pipedrive", "zoho", "dynamics"})

# The OAuth apps' client credentials in SSM: `<OAUTH_CLIENT_PARAMETER_PREFIX><provider>`, a
# SecureString {"client_id", "client_secret"} (refresh and the OAuth callback read it), and the
# client id alone, not a secret, under `<prefix>client-id/<provider>` (all that starting a connect
# needs: the connect function may read this one and not the secret).
OAUTH_CLIENT_ID_PARAMETER_SEGMENT: Final = "client-id/"


def oauth_client_id_parameter(prefix: str, provider: str) -> str:
    """The SSM name of `provider`'s OAuth client id (a String parameter) under `prefix`."""
    return f"{prefix}{OAUTH_CLIENT_ID_PARAMETER_SEGMENT}{provider}"
