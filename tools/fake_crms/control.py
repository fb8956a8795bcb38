"""The fakes' control endpoints, for tests that drive a fake they do not hold in process (the
`make run FAKE_CRMS=1` stack's): the HTTP face of `Crm`'s fault modes for identity and revocation.
Under `/<provider>/fake/` (a `Crm` alone serves them there too); forms are
application/x-www-form-urlencoded, answers JSON.

- `POST reject`, form `token`: the token stops working (an access token's session ends; a refresh
  token's grant is revoked), as if the user had revoked the app at the CRM.
- `POST move`, form `token`, `account_id` (`account_name`, `account_user`): the token (and, for a
  refresh token, its grant's other tokens) belongs to that account from now on.
- `POST account`, form `account_id` (`account_name`, `account_user`), or `other=1` for the fake's
  other account: the account the next consents land in (a user connecting another org);
  `GET account`: the current one.
- `POST api-token` (form `account_id`...: else the current account): a new Pipedrive API token or
  HubSpot private-app token the fake accepts, as `{"token": ...}`.
- `GET revoked`: `{"revoked": [...]}`, the tokens revoked at the revocation endpoint, in order.
"""

from typing import TYPE_CHECKING

from .grants import FakeAccount
from .http import Received, Reply

if TYPE_CHECKING:
    from .crm import Crm

CONTROL_SEGMENT = "fake"
# Providers whose account ids are numbers upstream (HubSpot's portal, Pipedrive's company).
_NUMERIC_IDS = ("hubspot", "pipedrive")


def is_control_path(provider: str, path: str) -> bool:
    return path.startswith(f"/{provider}/{CONTROL_SEGMENT}/")


def account_json(account: FakeAccount) -> dict[str, object]:
    return {"id": account.id, "name": account.name, "user": account.user}


def control_reply(crm: "Crm", received: Received) -> Reply:
    verb = received.path.rsplit("/", 1)[-1]
    form = {key: values[-1] for key, values in received.form.items()} if received.method == "POST" else {}
    if received.method == "GET" and verb == "revoked":
        return Reply(200, {"revoked": crm.revoked()})
    if received.method == "GET" and verb == "account":
        return Reply(200, account_json(crm.account))
    if received.method != "POST":
        return Reply(405, {"error": "method not allowed"})
    if verb == "reject":
        return Reply(200, {"rejected": crm.reject(form.get("token", ""))})
    if verb == "move":
        account = _account(crm, form)
        if account is None or not form.get("token"):
            return Reply(400, {"error": "token and account_id are required"})
        return Reply(200, {"moved": crm.move(form["token"], account)})
    if verb == "account":
        account = crm.other_account() if form.get("other") == "1" else _account(crm, form)
        if account is None:
            return Reply(400, {"error": "account_id (or other=1) is required"})
        crm.switch_account(account)
        return Reply(200, account_json(account))
    if verb == "api-token":
        return Reply(200, {"token": crm.api_token(_account(crm, form))})
    return Reply(404, {"error": f"no control {verb!r}"})


def _account(crm: "Crm", form: dict[str, str]) -> FakeAccount | None:
    raw = form.get("account_id", "").strip()
    if not raw:
        return None
    account_id: str | int = int(raw) if crm.provider in _NUMERIC_IDS and raw.isdigit() else raw
    return FakeAccount(account_id, form.get("account_name") or None, form.get("account_user") or None)
