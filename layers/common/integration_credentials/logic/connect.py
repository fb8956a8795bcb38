"""The OAuth authorization-code ("connect") flow, in domain terms.

`start` checks the request (provider, return URL, reconnect target, OAuth client id), claims one
of the org's MAX_CONNECT_STATES_PER_ORG slots (none free: 429), makes a single-use state (256
random bits, stored only as its hash, with a TTL) holding, encrypted, all the callback will trust
(the end user included), and returns the provider's authorize URL. `finish` is the callback: it
reads the state, consumes it with a conditional delete (a second use, even at the same moment,
is refused) and frees its slot, exchanges the code with the PKCE verifier, and stores the tokens:
new credentials (`Integration Credentials Connected`), or the same credentials reconnected: same
id and created_at, new tokens, status active (`Integration Credentials Recovered`). Between the
two it reads the CRM account of the new tokens (`connect_account`): stored with them, and a
reconnect to another account than the credentials' is refused (`policy.account_pinning`) unless
step 1 said `allow_account_change`. Whatever
happens after the state is consumed, the browser goes back to the return URL, with `error=<code>`
when nothing was stored, and always with the signed result (`connect_result`) the return page
verifies. Tokens are never in a URL, a log line or an event.

Longer than 300 lines: the two halves share the state's contents and its rules (what is bound to
it, what the callback may trust), which read best side by side.
"""

import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Final, cast

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from ..adapters import events, providers
from ..adapters.audit import Audit, hmac_or_none
from ..adapters.auth import Principal
from ..adapters.observability import logger, metrics, report_dependency_error
from ..adapters.parameters import secure_parameter
from ..adapters.providers import PermanentRefreshError, RefreshError, TokenRefresh, TokenRejectedError
from ..adapters.storage.connect_states import ConnectStateItem, ConnectStates, Slots, connect_states
from ..core.bodies.connect import ConnectRequest
from ..core.bodies.create import CredentialsCreate
from ..core.bodies.update import CredentialsUpdate
from ..core.constants import REFRESHABLE_PROVIDERS
from ..core.errors import (
    AccountMismatchError,
    AccountUnverifiedError,
    ConcurrentModificationError,
    CredentialsAlreadyExistError,
    CredentialsError,
    CredentialsNotFoundError,
    DependencyError,
    DependencyMisconfiguredError,
    InvalidConnectStateError,
    InvalidRequestError,
    PermissionDeniedError,
    TooManyConnectStatesError,
    TooManyCredentialsError,
)
from ..core.models import (
    CredentialsResult,
    format_timestamp,
    utc_timestamp,
)
from ..core.settings import Settings, get_settings
from ..policy.connect import (
    STATE_PATTERN,
    allow_list,
    credentials_dsn,
    provider_error_code,
    return_url_problem,
    state_key,
    with_result,
)
from ..policy.connect_result import MIN_KEY_BYTES, RESULT_PARAMETER, ConnectResult, sign_connect_result
from .connect_account import (
    IDENTIFY_TIMEOUT_SECONDS,
    IdentifyFunction,
    RevokeFunction,
    identify_new_grant,
    revoke_new_grant,
)
from .credentials import CredentialsService, credentials_service
from .oauth_clients import oauth_client, oauth_client_id

CALLBACK_PATH: Final = "/integration-credentials/oauth/callback"
# Stored metadata a reconnect's authorize URL and code exchange need again (the org's login host,
# tenant, data centre, own OAuth app): taken from the credentials unless the request names them.
HINT_KEYS: Final = (
    "login_url",
    "instance_url",
    "resource",
    "tenant_id",
    "data_center",
    "accounts_server",
    "api_domain",
    "client_id",
    "client_secret",
)
_STATE = re.compile(STATE_PATTERN)
# Zoho's callback `location`: a data centre name (us, eu, in, au, jp, ca, sa, cn, com.au...).
_ZOHO_LOCATION = re.compile(r"^[a-z]{2,3}(\.[a-z]{2,3})?$")

# The return URL's `error` when the callback refuses what the grant brought (nothing is stored).
_REFUSALS: Final[tuple[tuple[type[Exception], str], ...]] = (
    # The CRM refused, at its identity call, the token it had just issued.
    (TokenRejectedError, "token_rejected"),
    (AccountMismatchError, "account_mismatch"),
    (AccountUnverifiedError, "account_unverified"),
    (CredentialsAlreadyExistError, "already_connected"),
    (TooManyCredentialsError, "too_many_credentials"),
    (CredentialsNotFoundError, "credentials_not_found"),
    (PermissionDeniedError, "credentials_not_found"),
)
_REFUSED: Final = tuple(kind for kind, _ in _REFUSALS)

ExchangeFunction = Callable[..., TokenRefresh]
Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class ConnectStart:
    """Where to send the user's browser, until when the link works, and the hash of its state
    (what the signed result names as `state_hash`)."""

    connect_url: str
    expires_at: str
    state_hash: str


@dataclass(frozen=True, slots=True)
class CallbackParameters:
    """The query of the provider's redirect to the callback (each None when absent)."""

    state: str | None = None
    code: str | None = None
    error: str | None = None
    accounts_server: str | None = None
    location: str | None = None


class Connector:
    """Starts and finishes the OAuth connect flow."""

    def __init__(
        self,
        service: CredentialsService,
        states: ConnectStates,
        *,
        settings: Settings | None = None,
        clock: Clock = time.time,
        exchange: ExchangeFunction = providers.exchange_code,
        identify: IdentifyFunction | None = None,
        revoke: RevokeFunction | None = None,
    ) -> None:
        self._service = service
        self._states = states
        self._settings = settings or get_settings()
        self._clock = clock
        self._exchange = exchange
        # None: `providers.identify` / `providers.revoke`, looked up at each call.
        self._identify = identify
        self._revoke = revoke

    # ---- step 1: POST /integration-credentials/connect ----------------------------------------

    def start(
        self, principal: Principal, request: ConnectRequest, *, callback_url: str, audit: Audit = None
    ) -> ConnectStart:
        """The authorize URL of a new connection (or a reconnect of `request.credentials_id`)."""
        provider = request.provider
        org_id = principal.org_id
        if audit is not None:
            audit.provider = provider
        if provider not in REFRESHABLE_PROVIDERS:
            known = ", ".join(sorted(REFRESHABLE_PROVIDERS))
            raise InvalidRequestError(f"provider '{provider}' has no connect flow (one of: {known})")
        problem = return_url_problem(request.return_url, allow_list(self._settings.connect_return_urls))
        if problem is not None:
            raise InvalidRequestError(problem)
        hints = dict(request.metadata)
        if request.credentials_id is not None:
            row = self._service.owned_row(org_id, request.credentials_id, audit=audit)
            if row.provider != provider:
                raise InvalidRequestError(
                    f"credentials {row.id} are for provider '{row.provider}', not '{provider}'"
                )
            stored = self._service.decrypt(row).metadata
            hints = {**{key: stored[key] for key in HINT_KEYS if key in stored}, **hints}
        else:
            existing = self._service.repository.get_by_provider(org_id, provider)
            if existing is not None and existing.org_id == org_id:
                raise CredentialsAlreadyExistError(provider)
        try:
            client_id = oauth_client_id(provider, hints, self._settings)
        except PermanentRefreshError as error:
            raise InvalidRequestError(error.message) from None
        redirect_uri = self._settings.oauth_callback_url or callback_url
        verifier = providers.new_code_verifier() if providers.supports_pkce(provider) else None
        state = secrets.token_urlsafe(32)
        try:
            connect_url = providers.authorize_url(
                provider,
                client_id,
                redirect_uri,
                state,
                scopes=request.scopes,
                optional_scopes=request.optional_scopes,
                code_challenge=providers.s256_challenge(verifier) if verifier else None,
                metadata=hints,
            )
        except ValueError as error:
            raise InvalidRequestError(str(error)) from None
        except PermanentRefreshError as error:
            raise InvalidRequestError(error.message) from None
        now = int(self._clock())
        # The org's free slots are read before anything costs KMS: a full org is a 429 at once.
        slots = self._states.slots(org_id, self._settings.max_connect_states_per_org, now=now)
        if not slots.free:
            raise self._too_many(slots, now)
        expires_at = now + self._settings.connect_state_ttl_seconds
        item = ConnectStateItem(
            key=state_key(state),
            org_id=org_id,
            provider=provider,
            created_at=utc_timestamp(),
            expires_at=expires_at,
            ciphertext=b"",
        )
        document = {
            "return_url": request.return_url,
            "redirect_uri": redirect_uri,
            "credentials_id": request.credentials_id,
            "principal": {"method": principal.method, "subject": principal.subject},
            "scopes": request.scopes,
            "metadata": request.metadata,
            "hints": hints,
            "code_verifier": verifier,
            "end_user": request.end_user,
            "allow_account_change": request.allow_account_change,
        }
        ciphertext = self._service.cipher.encrypt_document(document, item.encryption_context)
        if not self._states.add(replace(item, ciphertext=ciphertext), slots.free, now=now):
            raise self._too_many(slots, now)  # every free slot was claimed meanwhile
        return ConnectStart(connect_url, format_timestamp(expires_at), item.key)

    def _too_many(self, slots: Slots, now: int) -> TooManyConnectStatesError:
        # Retry-After: until the earliest known state expires (one used sooner frees its slot then).
        wait = (
            slots.earliest_expiry - now if slots.earliest_expiry else self._settings.connect_state_ttl_seconds
        )
        return TooManyConnectStatesError(self._settings.max_connect_states_per_org, max(1, wait))

    def _result_key(self) -> str:
        """The key that signs `connect_result` (CONNECT_RESULT_KEY_PARAMETER)."""
        name = self._settings.connect_result_key_parameter
        if not name:
            raise DependencyMisconfiguredError("SSM", "ConnectResultKeyNotConfigured")
        key = secure_parameter(name, self._settings.jwt_secret_cache_seconds)
        if len(key.encode("utf-8")) < MIN_KEY_BYTES:
            raise DependencyMisconfiguredError("SSM", "ConnectResultKeyTooShort")
        return key

    # ---- step 3: GET /integration-credentials/oauth/callback ---------------------------------

    def finish(self, parameters: CallbackParameters, *, audit: Audit = None) -> str:
        """The URL to send the browser to (303) once the state is consumed. Raises
        `InvalidConnectStateError` for a state that cannot be used (nothing to trust), a
        `DependencyError` when the state cannot be read or consumed (nothing consumed)."""
        state = parameters.state
        if state is None or not _STATE.match(state):
            raise InvalidConnectStateError()
        now = int(self._clock())
        item = self._states.find(state_key(state), now=now)
        if item is None:
            raise InvalidConnectStateError()
        try:
            document = self._service.cipher.decrypt_document(item.ciphertext, item.encryption_context)
        except DependencyError:
            raise
        except CredentialsError:
            logger.error("connect state failed an integrity check", extra={"provider": item.provider})
            metrics.add_metric(name="IntegrityError", unit=MetricUnit.Count, value=1)
            raise InvalidConnectStateError() from None
        principal = document.get("principal") or {}
        credentials_id = document.get("credentials_id")
        if audit is not None:
            audit.principal = Principal(
                org_id=item.org_id,
                method=cast(Any, str(principal.get("method", "api_key"))),
                subject=str(principal.get("subject", "")),
                scopes=frozenset(),
            )
            audit.provider = item.provider
            audit.credentials_id = credentials_id
        # Read before the state is consumed: SSM failing is then a 503 that leaves it usable.
        key = self._result_key()
        if not self._states.consume(item, now=now):
            raise InvalidConnectStateError()
        self._release(item)
        return_url = str(document["return_url"])
        end_user = document.get("end_user")

        def back(outcome: Mapping[str, str]) -> str:
            signed = ConnectResult(
                org_id=item.org_id,
                provider=item.provider,
                state_hash=item.key,
                issued_at=int(self._clock()),
                credentials_id=outcome.get("credentials_id"),
                status=outcome.get("status"),
                error=outcome.get("error"),
                end_user=end_user if isinstance(end_user, str) else None,
            )
            plain = {"credentials_id": signed.credentials_id, "provider": item.provider, **outcome}
            query = {name: value for name, value in plain.items() if value is not None}
            return with_result(return_url, {**query, RESULT_PARAMETER: sign_connect_result(signed, key)})

        def failed(code: str, reason: str) -> str:
            if audit is not None:
                audit.reason = reason
                audit.extra["connect_error"] = code
            return back({"error": code})

        if parameters.error is not None:
            # The user refused consent, or the provider refused the request.
            return failed(provider_error_code(parameters.error), "consent_refused")
        if not parameters.code:
            return failed("invalid_request", "missing_code")
        try:
            result = self._connect(item, document, parameters, audit=audit)
        except _REFUSED as refused:
            code = next(code for kind, code in _REFUSALS if isinstance(refused, kind))
            return failed(code, code)
        except RefreshError as error:
            logger.warning("code exchange failed", extra={"provider": item.provider, "code": error.code})
            metrics.add_metric(name="ConnectExchangeFailed", unit=MetricUnit.Count, value=1)
            if audit is not None:
                audit.extra["provider_code"] = error.code
            return failed("exchange_failed", "exchange_failed")
        except InvalidRequestError:
            # What the provider issued cannot be stored as credentials (a token over the limits).
            return failed("exchange_failed", "unstorable_tokens")
        except ConcurrentModificationError:
            return failed("temporarily_unavailable", "concurrent_modification")
        except DependencyError as error:
            # The code is spent: the user has to start again, so tell the return URL, not a 503 page.
            report_dependency_error(error)
            logger.warning("connect tokens not stored", extra={"provider": item.provider})
            return failed("temporarily_unavailable", "dependency_failed")
        if audit is not None:
            audit.acted_on(str(result.body["id"]), item.provider)
        return back({"credentials_id": str(result.body["id"]), "status": "connected"})

    def _release(self, item: ConnectStateItem) -> None:
        # Best effort: a slot left taken frees itself when the state would have expired.
        try:
            self._states.release(item)
        except DependencyError as error:
            report_dependency_error(error)
            logger.warning("connect slot not released", extra={"provider": item.provider})

    def _connect(
        self,
        item: ConnectStateItem,
        document: Mapping[str, Any],
        parameters: CallbackParameters,
        *,
        audit: Audit,
    ) -> CredentialsResult:
        """Exchange the code and store what it brought: new credentials, or a reconnect."""
        provider = item.provider
        hints = dict(document.get("hints") or {})
        location = parameters.location
        if provider == "zoho" and location and _ZOHO_LOCATION.match(location) and "data_center" not in hints:
            hints["data_center"] = location
        client = oauth_client(provider, hints, self._settings)
        token = self._exchange(
            provider,
            parameters.code,
            client,
            str(document["redirect_uri"]),
            code_verifier=document.get("code_verifier"),
            scopes=document.get("scopes"),
            metadata=hints,
            timeout=self._settings.refresh_http_timeout_seconds,
            accounts_server=parameters.accounts_server if provider == "zoho" else None,
        )
        if audit is not None:
            audit.extra["access_token_hmac"] = hmac_or_none(token.access_token)
        granted = self._granted_metadata(token)
        credentials_id = document.get("credentials_id")
        # What the new tokens will be stored with: the request's, the stored hints, the grant's.
        metadata = {**hints, **dict(document.get("metadata") or {}), **_present(granted)}
        dsn = credentials_dsn(provider, metadata, document.get("scopes"))
        identity = identify_new_grant(
            self._identify or providers.identify,
            provider,
            metadata,
            token.access_token,
            client=client,
            dsn=dsn,
            timeout=min(IDENTIFY_TIMEOUT_SECONDS, self._settings.refresh_http_timeout_seconds),
        )
        if audit is not None and identity.account is not None:
            audit.extra["account_id"] = identity.account.id
        try:
            if credentials_id is None:
                request = CredentialsCreate.model_validate(
                    {
                        "provider": provider,
                        "dsn": dsn,
                        "access_token": token.access_token,
                        "metadata": metadata,
                    }
                )
                return self._service.create(
                    item.org_id,
                    request,
                    audit=audit,
                    event=events.CONNECTED,
                    verified=identity.verified,
                )
            patch = {**dict(document.get("metadata") or {}), **granted}
            update = CredentialsUpdate.model_validate({"access_token": token.access_token, "metadata": patch})
            return self._service.update(
                item.org_id,
                str(credentials_id),
                update,
                audit=audit,
                provider=provider,
                reconnect=True,
                identity=identity,
                allow_account_change=document.get("allow_account_change") is True,
            )
        except ValidationError:
            raise InvalidRequestError("the provider's tokens cannot be stored") from None
        except AccountMismatchError as mismatch:
            outcome = revoke_new_grant(
                self._revoke or providers.revoke,
                provider,
                metadata,
                token,
                client=client,
                dsn=dsn,
                credentials_id=mismatch.credentials_id,
            )
            if audit is not None:
                audit.extra["stored_account_id"] = mismatch.stored_account_id
                audit.extra["new_grant_revoked"] = outcome
            raise

    def _granted_metadata(self, token: TokenRefresh) -> dict[str, Any]:
        """What a new grant sets in metadata; None removes a key (a reconnect's merge patch): the
        refresh token, the provider's metadata (instance_url, api_domain, the tenant, Zoho's
        accounts server), the granted scope and the access token's expiry."""
        expires_at = (
            format_timestamp(self._clock() + token.expires_in) if token.expires_in is not None else None
        )
        return {
            **token.metadata_updates,
            "refresh_token": token.refresh_token,
            "expires_at": expires_at,
            **({"scope": token.scope} if token.scope else {}),
        }


def _present(values: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def callback_url(domain_name: str) -> str:
    """This API's callback as a caller reached it (the request's domain): https, except on this
    machine (`make run` serves plain HTTP on loopback). OAUTH_CALLBACK_URL, if set, is used instead."""
    host = domain_name.rsplit(":", 1)[0] if domain_name.count(":") == 1 else domain_name
    scheme = "http" if host in ("127.0.0.1", "localhost", "[::1]") else "https"
    return f"{scheme}://{domain_name}{CALLBACK_PATH}"


@cache
def connector() -> Connector:
    """The process's connector."""
    return Connector(credentials_service(), connect_states())
