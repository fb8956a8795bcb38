"""One CRM's memory: the codes it issued, the grants (refresh tokens) it holds, the access tokens
(sessions) it minted and whether they still work, the account each belongs to, the tokens revoked
at its revocation endpoint, every secret it minted and every token request it answered. Each fake
has its own; a lock guards it, since the server answers requests on threads of their own."""

import secrets
import threading
import time
from dataclasses import dataclass, field

ACTIVE, USED, REVOKED, INACTIVE = "active", "used", "revoked", "inactive"


@dataclass(frozen=True)
class FakeAccount:
    """The CRM account a token belongs to, as the fake's identity endpoints name it: `id` (an int
    where the provider's is a number: HubSpot's portal, Pipedrive's company), `name`, `user`."""

    id: str | int
    name: str | None = None
    user: str | int | None = None


@dataclass
class Code:
    client_id: str
    redirect_uri: str
    challenge: str | None
    scope: str | None
    issued: float  # time.monotonic()
    used: bool = False


@dataclass
class Grant:
    """A refresh token and what it was granted for."""

    client_id: str
    scope: str | None
    chain: int  # the grants minted from one consent share a chain (rotation revokes it whole)
    state: str = ACTIVE  # USED: rotated away; REVOKED; INACTIVE: unused for too long
    minted: list[float] = field(default_factory=list)  # Zoho's per-window access-token count
    account: FakeAccount | None = None  # None: the CRM's current account when asked


@dataclass
class Session:
    """An access token: it works until it expires (by time or `Ledger.expire`) or its grant's
    chain is revoked."""

    chain: int | None  # None: issued without a refresh token
    expires: float  # time.monotonic()
    expired: bool = False
    account: FakeAccount | None = None  # None: its grant's account (or the CRM's current one)


@dataclass(frozen=True)
class Exchange:
    """One token request as the fake answered it (no secret in it)."""

    grant_type: str
    client_id: str | None
    status: int
    error: str | None  # the provider's error code, None on success


class Minter:
    """New secrets: random (`secrets.token_urlsafe`), or the same given values every time, for
    tests that compare answers with constants."""

    def __init__(self, access_token: str | None = None, refresh_token: str | None = None) -> None:
        self._access = access_token
        self._refresh = refresh_token

    def access(self, prefix: str = "") -> str:
        return self._access or prefix + secrets.token_urlsafe(32)

    def refresh(self) -> str:
        return self._refresh or secrets.token_urlsafe(32)

    @staticmethod
    def code(prefix: str = "") -> str:
        return prefix + secrets.token_urlsafe(32)


class Ledger:
    """Codes, grants, minted secrets and answered requests of one provider."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, Code] = {}
        self.grants: dict[str, Grant] = {}
        self.issued: list[str] = []
        self.exchanges: list[Exchange] = []
        self.rotated: list[str] = []  # refresh tokens used once and rotated away, in order
        self.replayed: list[str] = []  # rotated-away refresh tokens presented again
        self.sessions: dict[str, Session] = {}
        self.api_calls: list[int] = []  # the statuses of the API requests answered, in order
        self.revoked: list[str] = []  # the tokens revoked at the revocation endpoint, in order
        self._chains = 0

    def add_code(self, code: str, grant: Code) -> None:
        with self.lock:
            self.codes[code] = grant
            self.issued.append(code)

    def add_grant(self, token: str, client_id: str, scope: str | None, chain: int | None = None) -> Grant:
        """A new grant (`chain` None: the first of a new chain)."""
        with self.lock:
            grant = Grant(client_id, scope, self.next_chain() if chain is None else chain)
            self.grants[token] = grant
            return grant

    def next_chain(self) -> int:
        """A new chain's number (caller holds the lock)."""
        self._chains += 1
        return self._chains

    def record(self, *secrets_: str) -> None:
        with self.lock:
            self.issued.extend(secrets_)

    def answered(self, exchange: Exchange) -> None:
        with self.lock:
            self.exchanges.append(exchange)

    def revoke_chain(self, chain: int) -> None:
        """Every grant of the chain dies (caller holds the lock)."""
        for grant in self.grants.values():
            if grant.chain == chain:
                grant.state = REVOKED

    def chain_of(self, token: str) -> list[tuple[str, Grant]]:
        """The grants of `token`'s chain, oldest first."""
        with self.lock:
            grant = self.grants.get(token)
            if grant is None:
                return []
            return [(key, value) for key, value in self.grants.items() if value.chain == grant.chain]

    def window(self, grant: Grant, limit: int, seconds: float) -> bool:
        """Count an access token against the grant's window; False when the window is full
        (caller holds the lock)."""
        now = time.monotonic()
        grant.minted = [at for at in grant.minted if now - at < seconds]
        if len(grant.minted) >= limit:
            return False
        grant.minted.append(now)
        return True

    def add_session(
        self, token: str, chain: int | None, lifetime: float, account: FakeAccount | None = None
    ) -> None:
        with self.lock:
            self.sessions[token] = Session(chain, time.monotonic() + lifetime, account=account)

    def account_of(self, token: str) -> FakeAccount | None:
        """The account of a live access token (its own, else its grant's); None when the token is
        not live or names no account of its own (then the CRM's current account applies)."""
        with self.lock:
            session = self.sessions.get(token)
            if session is None:
                return None
            if session.account is not None:
                return session.account
            grants = [grant for grant in self.grants.values() if grant.chain == session.chain]
            return next((grant.account for grant in grants if grant.account is not None), None)

    def live(self, token: str) -> bool:
        """Whether `token` is an access token this provider issued that still works."""
        with self.lock:
            session = self.sessions.get(token)
            if session is None or session.expired or time.monotonic() >= session.expires:
                return False
            return session.chain is None or not any(
                grant.chain == session.chain and grant.state == REVOKED for grant in self.grants.values()
            )

    def expire(self, token: str | None = None) -> int:
        """End the session of `token` (None: of every access token issued so far); how many ended."""
        with self.lock:
            chosen = [self.sessions[token]] if token in self.sessions else []
            if token is None:
                chosen = list(self.sessions.values())
            ended = [session for session in chosen if not session.expired]
            for session in ended:
                session.expired = True
            return len(ended)
