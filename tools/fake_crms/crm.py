"""One CRM's fake: its authorize (consent), token, identity and revocation endpoints over its own
state, as a behaviour (`Received -> Reply`) that `http.serve` hosts alone or `FakeCrms` hosts
beside the others; the fake Salesforce also answers its REST API's query (`salesforce_api`) for
the tokens it issued.

Alone, it answers at its documented paths (`/services/oauth2/token`, `/oauth/v3/token`,
`/oauth/token`, `/oauth/v2/token`, `/{tenant}/oauth2/v2.0/token`, the authorize pages, and the
identity and revocation paths of `identity`) as well as under `/<provider>/`
(`authorize|consent|token|revoke`, the documented identity paths, the `control` endpoints),
which is where `FakeCrms` routes.
"""

import secrets
import threading
import time
from collections.abc import Mapping

from .consent import Pending, authorize_reply, consent_reply, not_found
from .control import control_reply, is_control_path
from .grants import ACTIVE, INACTIVE, REVOKED, Code, Exchange, FakeAccount, Ledger, Minter
from .http import Received, Reply
from .identity import ACCOUNTS, OTHER_ACCOUNTS, action_of, identity_reply, revoke_reply, revoke_token
from .salesforce_api import api_reply, is_api_path
from .specs import (
    DYNAMICS_TENANT_ID,
    SALESFORCE_INSTANCE_URL,
    SPECS,
    ZOHO_DATA_CENTRES,
    ZOHO_TOKENS_PER_WINDOW,
    Spec,
    known,
)
from .tokens import token_reply

GRANT_STATES = (ACTIVE, REVOKED, INACTIVE)


class Crm:
    """One provider's fake OAuth endpoints and what they remember.

    `client`: `{"client_id", "client_secret"}` and optionally `"redirect_uri"` (then the authorize
    and token steps insist on exactly that string); by default `local-<provider>-client` with a
    random secret. `zoho_data_centre`: where the fake Zoho user lives (the callback names its
    accounts server, tokens its API host). `tenant`: the Microsoft tenant of the token path and
    the ID token. `require_pkce`: every provider but Pipedrive refuses an authorize request
    without an S256 challenge. `code_lifetime_seconds` replaces the provider's code lifetime.

    Fault modes: `rotation` (Salesforce's refresh token rotation: every refresh token works once;
    replaying a used one revokes the whole chain), `adopt_refresh_tokens` (every refresh token
    presented counts as one the provider issued, for a service whose rows the fake did not see
    created), `latency` (seconds before every token answer), `hold` (each token answer waits for
    the event, up to 10 s: a test decides when the provider answers), `minter` (fixed tokens
    instead of random ones); grants seeded `revoked` or `inactive`, codes seeded expired,
    access tokens expired (`expire`).

    `instance_url` (an attribute): the Salesforce org the token answers name; `FakeCrms(...,
    salesforce_org=True)` sets it to its own `/salesforce`, so that a sync job's query reaches it.

    Identity: `account` (an attribute, `switch_account`) is the account the next consents land
    in; `move` gives a token another account, `reject` makes it invalid, `api_token` mints a
    Pipedrive API token or HubSpot private-app token the fake accepts, `revoked` lists the tokens
    revoked at the revocation endpoint (`control` is the same over HTTP).
    """

    def __init__(
        self,
        provider: str,
        client: Mapping[str, str] | None = None,
        *,
        zoho_data_centre: str = "eu",
        tenant: str = DYNAMICS_TENANT_ID,
        require_pkce: bool = True,
        code_lifetime_seconds: float | None = None,
        rotation: bool = False,
        adopt_refresh_tokens: bool = False,
        latency: float = 0.0,
        hold: threading.Event | None = None,
        minter: Minter | None = None,
    ) -> None:
        if zoho_data_centre not in ZOHO_DATA_CENTRES:
            raise ValueError(f"zoho_data_centre must be one of {sorted(ZOHO_DATA_CENTRES)}")
        if rotation and provider != "salesforce":
            raise ValueError("rotation is Salesforce's (Microsoft always rotates, the others never)")
        self.provider = known(provider)
        self.spec: Spec = SPECS[provider]
        given = dict(client or {})
        given.setdefault("client_id", f"local-{provider}-client")
        given.setdefault("client_secret", secrets.token_urlsafe(32))
        self.client = given
        self.zoho_data_centre = zoho_data_centre
        self.tenant = tenant
        self.require_pkce = require_pkce
        self.code_lifetime = (
            code_lifetime_seconds if code_lifetime_seconds is not None else self.spec.code_lifetime
        )
        self.rotation = rotation
        self.adopt_refresh_tokens = adopt_refresh_tokens
        self.latency = latency
        self.hold = hold
        self.minter = minter or Minter()
        self.instance_url = SALESFORCE_INSTANCE_URL
        self.account: FakeAccount = ACCOUNTS[provider]
        self.ledger = Ledger()
        self.pending = Pending()

    # ---- the behaviour -------------------------------------------------------------------------

    def __call__(self, received: Received) -> Reply:
        if self.provider == "salesforce" and is_api_path(received.path):
            return api_reply(self, received)
        if is_control_path(self.provider, received.path):
            return control_reply(self, received)
        action = action_of(self.provider, received.path) or self.route(received.path)
        if action == "identity":
            return identity_reply(self, received)
        if action == "revoke" and self.provider != "dynamics":
            return revoke_reply(self, received)
        if action == "token":
            return token_reply(self, received)
        if action == "authorize" and received.method == "GET":
            return authorize_reply(self, received)
        if action == "consent" and received.method == "POST":
            return consent_reply(self, received)
        return not_found()

    def route(self, path: str) -> str | None:
        """ "authorize", "consent", "token" or "revoke" for a path this fake serves, else None."""
        segments = path.strip("/").split("/")
        if len(segments) == 2 and segments[0] == self.provider:
            return segments[1]
        for action, documented in (("token", self.spec.token_path), ("authorize", self.spec.authorize_path)):
            tenants = (self.tenant, "organizations", "common") if "{tenant}" in documented else ("",)
            if path in {documented.format(tenant=tenant) for tenant in tenants}:
                return action
        return None

    def fault_reply(self, status: int, body: dict[str, object]) -> Reply:
        """A token answer, held and delayed as the fault modes say."""
        if self.hold is not None:
            self.hold.wait(timeout=10)
        return Reply(status, body, delay=self.latency)

    def pend(self, query: Mapping[str, str]) -> str:
        with self.ledger.lock:
            return self.pending.add(query)

    def default_scope(self) -> str | None:
        """The scope of a grant the fake did not see created (adopted or seeded)."""
        return {"salesforce": "refresh_token api", "zoho": "ZohoCRM.modules.ALL,ZohoCRM.org.READ"}.get(
            self.provider
        )

    # ---- seeding (a grant or a code the provider issued before the test) -----------------------

    def grant(self, refresh_token: str, *, scope: str | None = None, state: str = ACTIVE) -> None:
        """Hold `refresh_token` as issued to this client for `scope` (default: the provider's
        usual one), `active`, `revoked` or `inactive` (unused too long)."""
        if state not in GRANT_STATES:
            raise ValueError(f"state must be one of {GRANT_STATES}")
        grant = self.ledger.add_grant(refresh_token, self.client["client_id"], scope or self.default_scope())
        grant.state = state

    def expire(self, access_token: str | None = None) -> int:
        """End the session of `access_token` (None: of every access token issued so far), as the
        CRM's session timeout would: its API then answers 401. Returns how many ended."""
        return self.ledger.expire(access_token)

    def exhaust(self, refresh_token: str) -> None:
        """Use up the grant's access tokens for the provider's window (Zoho: 10 per 10 minutes)."""
        with self.ledger.lock:
            self.ledger.grants[refresh_token].minted = [time.monotonic()] * ZOHO_TOKENS_PER_WINDOW

    def issue_code(
        self,
        code: str,
        *,
        redirect_uri: str,
        challenge: str | None = None,
        scope: str | None = None,
        expired: bool = False,
    ) -> None:
        """Hold `code` as issued to this client at an authorize step with these parameters."""
        issued = time.monotonic() - (self.code_lifetime + 1 if expired else 0)
        self.ledger.add_code(code, Code(self.client["client_id"], redirect_uri, challenge, scope, issued))

    # ---- identity and revocation ---------------------------------------------------------------

    def account_of(self, token: str) -> FakeAccount | None:
        """The account of a live access token (or registered API token), None when not live."""
        if not self.ledger.live(token):
            return None
        return self.ledger.account_of(token) or self.account

    def scope_of(self, token: str) -> str | None:
        """The scope of an access token's grant (None: no grant, or none recorded)."""
        with self.ledger.lock:
            session = self.ledger.sessions.get(token)
            if session is None or session.chain is None:
                return None
            scopes = [g.scope for g in self.ledger.grants.values() if g.chain == session.chain and g.scope]
            return scopes[0] if scopes else None

    def switch_account(self, account: FakeAccount) -> None:
        """The next consents land in `account` (the user connects another org or portal)."""
        self.account = account

    def other_account(self) -> FakeAccount:
        """An account other than the default one."""
        return OTHER_ACCOUNTS[self.provider]

    def move(self, token: str, account: FakeAccount) -> bool:
        """`token` belongs to `account` from now on (a refresh token: its whole grant, its access
        tokens included). False for a token the fake does not hold."""
        with self.ledger.lock:
            grant = self.ledger.grants.get(token)
            if grant is not None:
                for other in self.ledger.grants.values():
                    if other.chain == grant.chain:
                        other.account = account
                for session in self.ledger.sessions.values():
                    if session.chain == grant.chain:
                        session.account = None
                return True
            held = self.ledger.sessions.get(token)
            if held is None:
                return False
            held.account = account
            return True

    def reject(self, token: str) -> bool:
        """`token` stops working (the CRM's user revoked the app): an access token's session ends,
        a refresh token's grant is revoked with its access tokens. False when not held."""
        with self.ledger.lock:
            grant = self.ledger.grants.get(token)
            if grant is not None:
                self.ledger.revoke_chain(grant.chain)
                return True
            session = self.ledger.sessions.get(token)
            if session is None:
                return False
            session.expired = True
            return True

    def api_token(self, account: FakeAccount | None = None) -> str:
        """A new token without a grant that the identity call accepts until rejected: a
        Pipedrive API token, a HubSpot private-app token (`pat-na1-...`), else an access token."""
        prefix = "pat-na1-" if self.provider == "hubspot" else ""
        token = prefix + secrets.token_urlsafe(32)
        # Neither expires on its own (only a regeneration in the CRM's settings ends it).
        self.ledger.add_session(token, None, 10 * 365 * 86_400, account or self.account)
        self.ledger.record(token)
        return token

    def revoke(self, token: str) -> bool:
        """Revoke `token` as the revocation endpoint does; False when the fake holds no live one."""
        return revoke_token(self, token)

    def revoked(self) -> list[str]:
        """The tokens revoked at the revocation endpoint, in order."""
        with self.ledger.lock:
            return list(self.ledger.revoked)

    # ---- what tests inspect --------------------------------------------------------------------

    def issued(self) -> list[str]:
        """Every secret the provider minted, in order: codes, access, refresh and ID tokens."""
        with self.ledger.lock:
            return list(self.ledger.issued)

    def exchanges(self) -> list[Exchange]:
        """Every token request the provider answered (both grants), in order."""
        with self.ledger.lock:
            return list(self.ledger.exchanges)

    def api_calls(self) -> list[int]:
        """The status of every API request (Salesforce's query) the provider answered, in order."""
        with self.ledger.lock:
            return list(self.ledger.api_calls)
