"""Fake CRMs on 127.0.0.1: the OAuth authorize (consent), token, identity and revocation endpoints
of Salesforce, HubSpot, Pipedrive, Zoho and Dynamics 365 as their documentation describes them,
with state (codes, grants, rotation, the account each token belongs to) and fault modes (dead,
revoked or throttled grants, rejected or moved tokens, slow, held, dripping or scripted answers).

- `Crm` (crm): one provider's fake, a behaviour that `serve` hosts; `FakeCrms` (crms): the five
  on one server, for `make run FAKE_CRMS=1`, the connect tests and the bench.
- `serve`, `Reply`, `fixed` (http): the host, and scripted answers (outages, malformed bodies).
- `seeded`, `salesforce()`... `RotatingChain` (seeded): fakes that know the tests' constants.
- modules: specs (what each provider documents), refusals (its error shapes), grants (state),
  salesforce_api (the fake Salesforce's query resource, for the tokens it issued),
  tokens (the token endpoint), consent (authorize, consent page, `press_consent`), identity
  (the identity and revocation endpoints, `ACCOUNTS`), control (their fault modes over HTTP).
"""

from .consent import FakeCrmError, press_consent
from .crm import Crm
from .crms import FakeCrms
from .grants import Exchange, FakeAccount, Minter
from .http import Behaviour, FakeEndpoint, FakeServer, Received, Reply, fixed, serve
from .identity import ACCOUNTS, OTHER_ACCOUNTS
from .seeded import (
    AUTH_CODE,
    CLIENT_ID,
    CLIENT_SECRET,
    DYNAMICS_ORG,
    NEW_ACCESS_TOKEN,
    NEW_REFRESH_TOKEN,
    REDIRECT_URI,
    REFRESH_TOKEN,
    RotatingChain,
    code_scope,
    dynamics,
    hubspot,
    id_token,
    pipedrive,
    salesforce,
    seeded,
    zoho,
)
from .specs import DYNAMICS_TENANT_ID, PROVIDERS, REVOCABLE, SPECS
from .tokens import s256

__all__ = [
    "ACCOUNTS",
    "AUTH_CODE",
    "CLIENT_ID",
    "CLIENT_SECRET",
    "DYNAMICS_ORG",
    "DYNAMICS_TENANT_ID",
    "NEW_ACCESS_TOKEN",
    "NEW_REFRESH_TOKEN",
    "OTHER_ACCOUNTS",
    "PROVIDERS",
    "REDIRECT_URI",
    "REFRESH_TOKEN",
    "REVOCABLE",
    "SPECS",
    "Behaviour",
    "Crm",
    "Exchange",
    "FakeAccount",
    "FakeCrmError",
    "FakeCrms",
    "FakeEndpoint",
    "FakeServer",
    "Minter",
    "Received",
    "Reply",
    "RotatingChain",
    "code_scope",
    "dynamics",
    "fixed",
    "hubspot",
    "id_token",
    "pipedrive",
    "press_consent",
    "s256",
    "salesforce",
    "seeded",
    "serve",
    "zoho",
]
