"""Account pinning, no I/O: which CRM account a reconnect may store on credentials.

Credentials belong to the CRM account (Salesforce org, HubSpot portal, Pipedrive company, Zoho CRM
org, Dynamics organization) whose identity call their token answered. A reconnect whose new tokens
belong to another account would keep the credentials' id while every sync after it reads and
writes another customer's data, so it is refused unless the reconnect says
`allow_account_change`. Accounts are compared by `id` only: the user a token acts as and the
account's display name may change without the account changing.
"""

from ..core.errors import AccountMismatchError, AccountUnverifiedError
from ..core.frozen import Frozen, set_field
from ..core.models import Account


class NewGrantIdentity(Frozen):
    """What the identity call said about a new grant's access token: its `account` and when
    (`verified_at`), or neither when the CRM could not tell (down, or no usable answer)."""

    __slots__ = ("account", "verified_at")

    account: Account | None
    verified_at: str | None

    def __init__(self, account: Account | None = None, verified_at: str | None = None) -> None:
        set_field(self, "account", account)
        set_field(self, "verified_at", verified_at)

    @property
    def verified(self) -> tuple[Account, str] | None:
        """The account and when, if the identity call named one."""
        if self.account is None or self.verified_at is None:
            return None
        return self.account, self.verified_at


class PinnedAccount(Frozen):
    """The account (and its verification time) a reconnect stores, and whether it moved the
    credentials to another account than the one they had."""

    __slots__ = ("account", "changed", "verified_at")

    account: Account | None
    verified_at: str | None
    changed: bool

    def __init__(self, account: Account | None, verified_at: str | None, changed: bool) -> None:
        set_field(self, "account", account)
        set_field(self, "verified_at", verified_at)
        set_field(self, "changed", changed)


def pin_account(
    credentials_id: str,
    stored: Account | None,
    stored_verified_at: str | None,
    found: NewGrantIdentity,
    *,
    allow_change: bool,
) -> PinnedAccount:
    """The account a reconnect of credentials pinned to `stored` (None: not yet known) stores,
    given what the identity call `found` for the new tokens. Raises `AccountMismatchError` for
    another account without `allow_change`, and `AccountUnverifiedError` when credentials pinned
    to an account get tokens whose account is unknown (nothing can say it is the same one)."""
    if found.account is None:
        if stored is not None:
            raise AccountUnverifiedError(credentials_id)
        return PinnedAccount(None, stored_verified_at, changed=False)
    changed = stored is not None and stored.id != found.account.id
    if stored is not None and changed and not allow_change:
        raise AccountMismatchError(credentials_id, stored.id, found.account.id)
    return PinnedAccount(found.account, found.verified_at, changed=changed)
