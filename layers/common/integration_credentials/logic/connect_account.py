"""The CRM account of a connect flow's new grant: read with the new access token at the callback
(the CRM's identity call), and the new grant revoked at the CRM when a reconnect refuses it for
belonging to another account.

What the identity call's failures mean there:
- the CRM refuses the token it has just issued (401/403, `TokenRejectedError`): nothing is stored,
  the callback says `error=token_rejected`;
- the CRM does not answer usably (5xx, 429, timeout, no identity call: `TransientRefreshError`,
  `PermanentRefreshError`): the account is unknown. A new connection is stored without one (the
  first verification records it); a reconnect of credentials pinned to an account is refused
  (`error=account_unverified`), since nothing can say the tokens are the same account's.

Revocation is best effort and bounded (REVOKE_TIMEOUT_SECONDS): the browser is waiting, and the
old credentials stay as they were whatever it does. Only a grant refused for another account is
revoked: its account is known to differ, so revoking it cannot touch the stored grant (a grant
whose account is unknown may be the stored one's, which some CRMs hand out again on re-consent).
"""

from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

from aws_lambda_powertools.metrics import MetricUnit

from ..adapters import providers
from ..adapters.observability import logger, metrics
from ..adapters.providers import (
    OAuthClient,
    PermanentRefreshError,
    RefreshError,
    TokenRefresh,
    TransientRefreshError,
)
from ..core.models import Account, utc_timestamp
from ..policy.account_pinning import NewGrantIdentity

IdentifyFunction = Callable[..., Account]
RevokeFunction = Callable[..., None]
# The user's browser waits on both calls, after the code exchange and before the store, within the
# callback's Timeout (tests/infrastructure/test_budgets.py): the identity call at most this long
# (a CRM slower than that is one that cannot tell, below)...
IDENTIFY_TIMEOUT_SECONDS: Final = 5.0
# ...and the revocation of a refused grant at most this long.
REVOKE_TIMEOUT_SECONDS: Final = 3.0

RevokeOutcome = Literal["revoked", "failed", "unsupported"]


def identify_new_grant(
    identify: IdentifyFunction,
    provider: str,
    metadata: Mapping[str, Any],
    access_token: str,
    *,
    client: OAuthClient,
    dsn: str,
    timeout: float = IDENTIFY_TIMEOUT_SECONDS,
) -> NewGrantIdentity:
    """The account `access_token` belongs to, and now; an empty identity when the CRM cannot tell.
    Raises `TokenRejectedError` when the CRM refuses the token."""
    try:
        account = identify(provider, metadata, access_token, client=client, dsn=dsn, timeout=timeout)
    except (TransientRefreshError, PermanentRefreshError) as error:
        logger.warning("account of new tokens unknown", extra={"provider": provider, "code": error.code})
        metrics.add_metric(name="ConnectAccountUnknown", unit=MetricUnit.Count, value=1)
        return NewGrantIdentity()
    return NewGrantIdentity(account, utc_timestamp())


def revoke_new_grant(
    revoke: RevokeFunction,
    provider: str,
    metadata: Mapping[str, Any],
    token: TokenRefresh,
    *,
    client: OAuthClient,
    dsn: str,
    credentials_id: str,
) -> RevokeOutcome:
    """Revoke a new grant the callback will not store (its refresh token, else its access token);
    never raises: a failure is logged by code and counted."""
    if provider not in providers.REVOCABLE_PROVIDERS:
        return "unsupported"
    refresh_token = token.refresh_token
    try:
        revoke(
            provider,
            metadata,
            refresh_token or token.access_token,
            token_kind="refresh_token" if refresh_token else "access_token",
            client=client,
            dsn=dsn,
            timeout=REVOKE_TIMEOUT_SECONDS,
        )
    except RefreshError as error:
        code = error.code
    except Exception as error:  # best effort: nothing the revocation does may change the answer
        code = type(error).__name__
    else:
        return "revoked"
    logger.warning(
        "refused grant not revoked",
        extra={"provider": provider, "credentials_id": credentials_id, "code": code},
    )
    metrics.add_metric(name="ConnectRevokeFailed", unit=MetricUnit.Count, value=1)
    return "failed"
