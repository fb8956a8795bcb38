"""`CrmAuth`: the CRM's token on every request a sync job makes (httpx, sync or async, and
requests), renewed through the service when the CRM answers 401: one refresh per credential in
the process however many threads and tasks meet the 401 together (`_tokens`), then the request
once more; a second 401, or a grant the CRM refused for good, is `ReconnectRequired`."""

import asyncio
import logging
from collections.abc import AsyncGenerator, Generator
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx

from . import _tokens as tokens
from .async_client import AsyncClient
from .client import Client
from .errors import NotRefreshable, ReauthorizationRequired, ReconnectRequired
from .models import Credentials

logger = logging.getLogger("integration_credentials_client")

TokenIn = Literal["authorization", "x-api-token", "api_token"]
# A flight is joined again when it was not the one a caller needed (a read while it needed a
# refresh): a few rounds at most.
_MAX_ROUNDS = 4


class CrmAuth(httpx.Auth):
    """Authenticates requests to a CRM with the credentials the service holds for it, named by
    `provider` or `credentials_id`, through `client` (needs `credentials:read` and
    `credentials:refresh`).

    The token goes where the CRM wants it: `Authorization: Bearer` (Salesforce, HubSpot,
    Dynamics, Pipedrive OAuth, custom), `Authorization: Zoho-oauthtoken` (Zoho), the `x-api-token`
    header for a Pipedrive API token (credentials without a refresh_token). `scheme` changes the
    Authorization scheme; `token_in="api_token"` sends a Pipedrive API token as its query
    parameter instead (it then shows in URLs and their logs)."""

    requires_request_body = True

    def __init__(
        self,
        client: Client | AsyncClient,
        *,
        provider: str | None = None,
        credentials_id: str | None = None,
        scheme: str | None = None,
        token_in: TokenIn | None = None,
        refresh_margin: float = tokens.REFRESH_MARGIN_SECONDS,
        clock: tokens.Clock = tokens.wall_clock,
    ) -> None:
        if (provider is None) == (credentials_id is None):
            raise ValueError("give exactly one of provider and credentials_id")
        self.client = client
        self.provider = provider
        self.credentials_id = credentials_id
        self.scheme = scheme
        self.token_in = token_in
        self.refresh_margin = refresh_margin
        self.clock = clock
        kind, value = ("id", credentials_id) if credentials_id is not None else ("provider", provider or "")
        self._slot = tokens.slot_for(client.base_url, client._principal, kind, value)

    def __repr__(self) -> str:
        named = (
            f"credentials_id={self.credentials_id!r}"
            if self.credentials_id
            else f"provider={self.provider!r}"
        )
        return f"CrmAuth({named})"

    # ---- where the token goes ----------------------------------------------------------------

    def placement(self, credentials: Credentials) -> tuple[TokenIn, str]:
        """Where this credential's token goes, and the Authorization scheme when it goes there."""
        if self.token_in is not None and self.token_in != "authorization":
            return self.token_in, ""
        if self.scheme is not None:
            return "authorization", self.scheme
        if credentials.provider == "zoho":
            return "authorization", "Zoho-oauthtoken"
        if credentials.provider == "pipedrive" and "refresh_token" not in credentials.metadata:
            return ("x-api-token", "") if self.token_in is None else ("authorization", "Bearer")
        return "authorization", "Bearer"

    def _apply(self, request: httpx.Request, credentials: Credentials) -> None:
        where, scheme = self.placement(credentials)
        token = credentials.access_token or ""
        if where == "authorization":
            request.headers["Authorization"] = f"{scheme} {token}"
        elif where == "x-api-token":
            request.headers["x-api-token"] = token
        else:
            request.url = request.url.copy_set_param("api_token", token)

    # ---- httpx ---------------------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        credentials = self.credentials()
        self._apply(request, credentials)
        response = yield request
        if response.status_code != 401:
            return
        renewed = self.renewed(credentials)
        self._apply(request, renewed)
        response = yield request
        if response.status_code == 401:
            raise self._refused(renewed)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        credentials = await self.acredentials()
        self._apply(request, credentials)
        response = yield request
        if response.status_code != 401:
            return
        renewed = await self.arenewed(credentials)
        self._apply(request, renewed)
        response = yield request
        if response.status_code == 401:
            raise self._refused(renewed)

    # ---- requests (AuthBase's protocol: called with the PreparedRequest) ------------------------

    def __call__(self, request: Any) -> Any:
        credentials = self.credentials()
        self._apply_requests(request, credentials)
        request._integration_credentials = credentials
        request.register_hook("response", self._requests_response)
        return request

    def _apply_requests(self, request: Any, credentials: Credentials) -> None:
        where, scheme = self.placement(credentials)
        token = credentials.access_token or ""
        if where == "authorization":
            request.headers["Authorization"] = f"{scheme} {token}"
        elif where == "x-api-token":
            request.headers["x-api-token"] = token
        else:
            parts = urlsplit(request.url)
            query = [(name, value) for name, value in parse_qsl(parts.query) if name != "api_token"]
            request.url = urlunsplit(parts._replace(query=urlencode([*query, ("api_token", token)])))

    def _requests_response(self, response: Any, **send_options: Any) -> Any:
        # What requests' own HTTPDigestAuth does for its 401: consume, copy, resend through the
        # same adapter (the hooks do not run for the resent one: its 401 is checked here).
        if response.status_code != 401:
            return response
        used: Credentials = getattr(response.request, "_integration_credentials", None) or self.credentials()
        renewed = self.renewed(used)
        response.content  # noqa: B018 - read it so the connection can be reused
        response.close()
        retry = response.request.copy()
        self._apply_requests(retry, renewed)
        again = response.connection.send(retry, **send_options)
        again.history.append(response)
        again.request = retry
        if again.status_code == 401:
            again.close()
            raise self._refused(renewed)
        return again

    # ---- the credential, through the process's single flight --------------------------------

    def credentials(self) -> Credentials:
        """The credential to use now (read from the service when none is cached or it expires)."""
        return self._sync_round(None)

    def renewed(self, refused: Credentials) -> Credentials:
        """A credential whose token is not `refused`'s (the CRM answered 401 to that one)."""
        return self._sync_round(refused.access_token)

    async def acredentials(self) -> Credentials:
        """As `credentials`, for asyncio."""
        return await self._async_round(None)

    async def arenewed(self, refused: Credentials) -> Credentials:
        """As `renewed`, for asyncio."""
        return await self._async_round(refused.access_token)

    def _sync_round(self, stale: str | None) -> Credentials:
        for _ in range(_MAX_ROUNDS):
            step = tokens.board(self._slot, stale, self.clock())
            if isinstance(step, tokens.Ready):
                return step.credentials
            if step.leader:
                self._lead(step, self._sync_fetch)
            outcome = step.flight.result()
            if step.refresh:
                return outcome
        raise self._refused(self._slot.credentials)

    async def _async_round(self, stale: str | None) -> Credentials:
        for _ in range(_MAX_ROUNDS):
            step = tokens.board(self._slot, stale, self.clock())
            if isinstance(step, tokens.Ready):
                return step.credentials
            if step.leader:
                try:
                    outcome: Credentials | BaseException = await self._async_fetch(step.refresh)
                except BaseException as error:  # the waiters get it too, cancellation included
                    outcome = error
                tokens.land(self._slot, step.flight, outcome, self.clock(), self.refresh_margin)
            landed = await asyncio.wrap_future(step.flight)
            if step.refresh:
                return landed
        raise self._refused(self._slot.credentials)

    def _lead(self, step: tokens.Wait, fetch: Any) -> None:
        try:
            outcome: Credentials | BaseException = fetch(step.refresh)
        except BaseException as error:  # the waiters get it too
            outcome = error
        tokens.land(self._slot, step.flight, outcome, self.clock(), self.refresh_margin)

    def _sync_fetch(self, refresh: bool) -> Credentials:
        client = self.client
        if not isinstance(client, Client):
            raise TypeError("CrmAuth with an AsyncClient authenticates async requests only")
        if not refresh:
            return (
                client.get(self.credentials_id)
                if self.credentials_id
                else client.get_by_provider(self.provider or "")
            )
        current = self._slot.credentials
        assert current is not None
        logger.info("integration-credentials: the CRM refused %s's token, refreshing it", current.id)
        try:
            return client.refresh(current.id)
        except ReauthorizationRequired as error:
            raise self._dead(current, error) from None
        except NotRefreshable as error:
            stored = client.get(current.id)  # a token stored meanwhile (a PUT) is the way out
            if stored.access_token == current.access_token:
                raise self._dead(current, error) from None
            return stored

    async def _async_fetch(self, refresh: bool) -> Credentials:
        client = self.client
        if isinstance(client, Client):
            return await asyncio.to_thread(self._sync_fetch, refresh)
        if not refresh:
            if self.credentials_id:
                return await client.get(self.credentials_id)
            return await client.get_by_provider(self.provider or "")
        current = self._slot.credentials
        assert current is not None
        logger.info("integration-credentials: the CRM refused %s's token, refreshing it", current.id)
        try:
            return await client.refresh(current.id)
        except ReauthorizationRequired as error:
            raise self._dead(current, error) from None
        except NotRefreshable as error:
            stored = await client.get(current.id)
            if stored.access_token == current.access_token:
                raise self._dead(current, error) from None
            return stored

    def _dead(
        self, current: Credentials, error: ReauthorizationRequired | NotRefreshable
    ) -> ReconnectRequired:
        reason = (
            "the CRM refused the grant"
            if isinstance(error, ReauthorizationRequired)
            else "no refresh possible"
        )
        return ReconnectRequired(error.status, reason, credentials_id=current.id, provider=current.provider)

    def _refused(self, credentials: Credentials | None) -> ReconnectRequired:
        return ReconnectRequired(
            401,
            "the CRM refused the token the service refreshed",
            credentials_id=credentials.id if credentials else self.credentials_id,
            provider=credentials.provider if credentials else self.provider,
        )
