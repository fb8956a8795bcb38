"""The five CRMs' fakes on one local HTTP server, under `/<provider>/` for salesforce, hubspot,
pipedrive, zoho and dynamics: `GET /<provider>/authorize` (the consent page), `POST
/<provider>/consent`, `POST /<provider>/token`, `POST /<provider>/revoke` (not dynamics), the
identity call at `/<provider>` + its documented path (`/salesforce/services/oauth2/userinfo`...),
the control endpoints under `/<provider>/fake/` (`control`), and `GET /` (an index of the
endpoints), and the fake Salesforce's query resource, `GET
/salesforce/services/data/vXX.X/query?q=<SOQL>`, for its tokens (`salesforce_org=True` makes its
token answers name `<base>/salesforce` as the org's `instance_url`, so that a sync job's query
reaches it).

`make run FAKE_CRMS=1` (LOCAL_FAKE_CRMS=1) serves them beside the local stack and points the
functions' OAUTH_AUTHORIZE_URL_<PROVIDER>, OAUTH_TOKEN_URL_<PROVIDER>, CRM_API_URL_<PROVIDER> and
OAUTH_REVOKE_URL_<PROVIDER> at them; tests start one with `FakeCrms(...).start()` (a free port) and
drive the consent with `.consent(url)`.

Every code and token is `secrets.token_urlsafe` randomness; the request log names the method and
the path only, never a query string (codes, states) or a body.
"""

import html
import os
import sys
import threading
from collections.abc import Mapping

from .consent import FakeCrmError, not_found, page, press_consent
from .crm import Crm
from .grants import Exchange, FakeAccount
from .http import FakeServer, Received, Reply
from .specs import (
    AUTHORIZE_ENV_PREFIX,
    CRM_API_ENV_PREFIX,
    PROVIDERS,
    REVOCABLE,
    REVOKE_ENV_PREFIX,
    TOKEN_ENV_PREFIX,
    known,
)


class FakeCrms:
    """Every provider's `Crm` on one server. `clients` maps a provider to its client (see `Crm`);
    the keyword options are `Crm`'s, for every provider (`salesforce_rotation` for Salesforce's).

    `salesforce_org`: the fake Salesforce's token answers name this server (`instance_url`,
    `<base>/salesforce`) instead of https://mycompany.my.salesforce.com, so that what a sync job
    reads from its credential's `instance_url` reaches the fake's query resource."""

    def __init__(
        self,
        clients: Mapping[str, Mapping[str, str]] | None = None,
        *,
        zoho_data_centre: str = "eu",
        require_pkce: bool = True,
        code_lifetime_seconds: float | None = None,
        salesforce_rotation: bool = False,
        salesforce_org: bool = False,
        adopt_refresh_tokens: bool = False,
        latency: float = 0.0,
        port: int = 0,
        log: bool = False,
    ) -> None:
        unknown = set(clients or {}) - set(PROVIDERS)
        if unknown:
            raise ValueError(f"unknown providers: {sorted(unknown)}")
        self.crms = {
            provider: Crm(
                provider,
                (clients or {}).get(provider),
                zoho_data_centre=zoho_data_centre,
                require_pkce=require_pkce,
                code_lifetime_seconds=code_lifetime_seconds,
                rotation=salesforce_rotation and provider == "salesforce",
                adopt_refresh_tokens=adopt_refresh_tokens,
                latency=latency,
            )
            for provider in PROVIDERS
        }
        self.log = log
        self.salesforce_org = salesforce_org
        self._port = port
        self._server: FakeServer | None = None

    @property
    def clients(self) -> dict[str, dict[str, str]]:
        return {provider: crm.client for provider, crm in self.crms.items()}

    def __call__(self, received: Received) -> Reply:
        if received.path in ("/", "") and received.method == "GET":
            return self.index_page()
        provider = received.path.strip("/").split("/")[0]
        if provider in self.crms:
            return self.crms[provider](received)
        return not_found()

    # ---- lifecycle and URLs --------------------------------------------------------------------

    def start(self) -> "FakeCrms":
        """Serve on 127.0.0.1 (a free port unless one was given); returns self."""
        if self._server is None:
            self._server = FakeServer(self, port=self._port, log=self.log).start()
            if self.salesforce_org:
                self.crms["salesforce"].instance_url = self.instance_url
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> "FakeCrms":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def server(self) -> FakeServer:
        if self._server is None:
            raise FakeCrmError("the fake CRMs are not started")
        return self._server

    @property
    def base_url(self) -> str:
        """`http://127.0.0.1:<port>` (no trailing slash)."""
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def authorize_url(self, provider: str) -> str:
        """The provider's fake authorize endpoint (OAUTH_AUTHORIZE_URL_<PROVIDER>)."""
        return f"{self.base_url}/{known(provider)}/authorize"

    def token_url(self, provider: str) -> str:
        """The provider's fake token endpoint (OAUTH_TOKEN_URL_<PROVIDER>)."""
        return f"{self.base_url}/{known(provider)}/token"

    def api_url(self, provider: str) -> str:
        """The base URL of the provider's fake identity call (CRM_API_URL_<PROVIDER>)."""
        return f"{self.base_url}/{known(provider)}"

    def revoke_url(self, provider: str) -> str:
        """The provider's fake revocation endpoint (OAUTH_REVOKE_URL_<PROVIDER>)."""
        if known(provider) not in REVOCABLE:
            raise FakeCrmError(f"{provider} has no revocation endpoint")
        return f"{self.base_url}/{provider}/revoke"

    def control_url(self, provider: str, verb: str) -> str:
        """One of the provider's control endpoints (`control`): reject, move, account, api-token,
        revoked."""
        return f"{self.base_url}/{known(provider)}/fake/{verb}"

    @property
    def instance_url(self) -> str:
        """Where the fake Salesforce's query resource is (`<base>/salesforce`)."""
        return f"{self.base_url}/salesforce"

    def env(self) -> dict[str, str]:
        """OAUTH_AUTHORIZE_URL_<PROVIDER>, OAUTH_TOKEN_URL_<PROVIDER>, CRM_API_URL_<PROVIDER> and
        (but for Dynamics) OAUTH_REVOKE_URL_<PROVIDER> of every provider."""
        env: dict[str, str] = {}
        for provider in PROVIDERS:
            env[AUTHORIZE_ENV_PREFIX + provider.upper()] = self.authorize_url(provider)
            env[TOKEN_ENV_PREFIX + provider.upper()] = self.token_url(provider)
            env[CRM_API_ENV_PREFIX + provider.upper()] = self.api_url(provider)
            if provider in REVOCABLE:
                env[REVOKE_ENV_PREFIX + provider.upper()] = self.revoke_url(provider)
        return env

    # ---- what tests inspect --------------------------------------------------------------------

    def issued(self, provider: str) -> list[str]:
        """Every secret the provider minted, in order: codes, access, refresh and ID tokens."""
        return self.crms[known(provider)].issued()

    def exchanges(self, provider: str) -> list[Exchange]:
        """Every token request the provider answered (both grants), in order."""
        return self.crms[known(provider)].exchanges()

    def expire(self, provider: str, access_token: str | None = None) -> int:
        """End the provider's session of `access_token` (None: every one issued so far)."""
        return self.crms[known(provider)].expire(access_token)

    def api_calls(self, provider: str) -> list[int]:
        """The status of every API request the provider answered, in order."""
        return self.crms[known(provider)].api_calls()

    def account_of(self, provider: str, token: str) -> FakeAccount | None:
        """The account the provider's identity call names for `token` (None: not live)."""
        return self.crms[known(provider)].account_of(token)

    def reject(self, provider: str, token: str) -> bool:
        """The provider stops accepting `token` (see `Crm.reject`)."""
        return self.crms[known(provider)].reject(token)

    def move(self, provider: str, token: str, account: FakeAccount) -> bool:
        """`token` belongs to `account` from now on (see `Crm.move`)."""
        return self.crms[known(provider)].move(token, account)

    def switch_account(self, provider: str, account: FakeAccount) -> None:
        """The provider's next consents land in `account`."""
        self.crms[known(provider)].switch_account(account)

    def api_token(self, provider: str, account: FakeAccount | None = None) -> str:
        """A Pipedrive API token or HubSpot private-app token the provider accepts."""
        return self.crms[known(provider)].api_token(account)

    def revoked(self, provider: str) -> list[str]:
        """The tokens revoked at the provider's revocation endpoint, in order."""
        return self.crms[known(provider)].revoked()

    def consent(self, authorize_url: str, allow: bool = True) -> str:
        """Open `authorize_url` (on this fake), press Allow or Deny, return the redirect's Location.

        Raises FakeCrmError with the page's text when the authorize step refuses the request.
        """
        if not authorize_url.startswith(self.base_url + "/"):
            raise FakeCrmError("the authorize URL is not one of this fake's")
        return press_consent(authorize_url, allow)

    def index_page(self) -> Reply:
        rows = "".join(
            f"<tr><td>{name}</td><td>{html.escape(self.authorize_url(name))}</td>"
            f"<td>{html.escape(self.token_url(name))}</td>"
            f"<td>{html.escape(self.crms[name].client['client_id'])}</td></tr>"
            for name in PROVIDERS
        )
        return page(
            "Fake CRMs",
            "<h1>Fake CRMs</h1><p>OAuth authorize and token endpoints for local development.</p>"
            "<table><tr><th>provider</th><th>authorize</th><th>token</th><th>client_id</th></tr>"
            f"{rows}</table>",
        )


def main() -> int:
    """`python -m fake_crms`: serve the fakes (PORT, else a free port) until Ctrl-C, the fake
    Salesforce naming itself as the org; prints what `make run` needs to use them (the endpoints,
    and the OAuth clients as LOCAL_OAUTH_CLIENT_ID_* / LOCAL_OAUTH_CLIENT_SECRET_*)."""
    crms = FakeCrms(port=int(os.environ.get("PORT", "0")), log=True, salesforce_org=True).start()
    print(f"Fake CRMs on {crms.base_url}/")
    for name, value in crms.env().items():
        print(f"export {name}={value}")
    for provider, client in crms.clients.items():
        print(f"export LOCAL_OAUTH_CLIENT_ID_{provider.upper()}={client['client_id']}")
        print(f"export LOCAL_OAUTH_CLIENT_SECRET_{provider.upper()}={client['client_secret']}")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        crms.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
