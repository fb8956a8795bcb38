"""The asyncio client: the same surface as `Client`, every method a coroutine and `list` an
async iterator."""

from collections.abc import AsyncIterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from . import _protocol as protocol
from .client import log_retry
from .models import ConnectStarted, Credentials
from .retry import RetryPolicy, may_retry_error, may_retry_status, next_wait


class AsyncClient:
    """The integration-credentials API for asyncio code (see `Client` for the arguments)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int | RetryPolicy = 3,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = RetryPolicy.of(retries)
        self._principal = api_key if api_key is not None else token
        self._http = httpx.AsyncClient(
            headers=protocol.auth_headers(api_key, token), timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"AsyncClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def create(
        self,
        provider: str,
        dsn: str,
        access_token: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        verify: bool = False,
    ) -> Credentials:
        """As `Client.create`."""
        call = protocol.create_call(provider, dsn, access_token, metadata, idempotency_key, verify)
        return await self._credentials(call)

    async def get(self, credentials_id: str) -> Credentials:
        """As `Client.get`."""
        return await self._credentials(protocol.get_call(credentials_id))

    async def get_by_provider(self, provider: str) -> Credentials:
        """As `Client.get_by_provider`."""
        return await self._credentials(protocol.get_by_provider_call(provider))

    async def list(self, page_size: int = protocol.PAGE_SIZE) -> AsyncIterator[Credentials]:
        """Every credentials object of the org (`async for`), a page at a time."""
        cursor: str | None = None
        while True:
            response = await self._send(protocol.list_call(page_size, cursor))
            for item in protocol.json_array(response):
                yield Credentials.from_json(item)
            cursor = protocol.next_cursor(response)
            if cursor is None:
                return

    async def update(
        self,
        credentials_id: str,
        dsn: str | None = None,
        access_token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> Credentials:
        """As `Client.update`."""
        call = protocol.update_call(credentials_id, dsn, access_token, metadata, if_match)
        return await self._credentials(call)

    async def delete(self, credentials_id: str, if_match: str | None = None, *, revoke: bool = True) -> None:
        """As `Client.delete`."""
        await self._send(protocol.delete_call(credentials_id, if_match, revoke))

    async def refresh(self, credentials_id: str) -> Credentials:
        """As `Client.refresh`."""
        return await self._credentials(protocol.refresh_call(credentials_id))

    async def verify(self, credentials_id: str) -> Credentials:
        """As `Client.verify`."""
        return await self._credentials(protocol.verify_call(credentials_id))

    async def connect(
        self,
        provider: str,
        return_url: str,
        *,
        scopes: Sequence[str] | None = None,
        optional_scopes: Sequence[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
        credentials_id: str | None = None,
        end_user: str | None = None,
        allow_account_change: bool = False,
    ) -> ConnectStarted:
        """As `Client.connect`."""
        body = protocol.connect_body(
            provider,
            return_url,
            scopes=scopes,
            optional_scopes=optional_scopes,
            metadata=metadata,
            credentials_id=credentials_id,
            end_user=end_user,
            allow_account_change=allow_account_change,
        )
        response = await self._send(protocol.connect_call(body))
        return ConnectStarted.from_json(protocol.json_object(response))

    async def _credentials(self, call: protocol.Call) -> Credentials:
        response = await self._send(call)
        return Credentials.from_json(protocol.json_object(response), response.headers.get("ETag"))

    async def _send(self, call: protocol.Call) -> httpx.Response:
        policy = self.retries
        started, attempt = policy.clock(), 1
        while True:
            try:
                response = await self._http.request(
                    call.method,
                    self.base_url + call.path,
                    json=call.json,
                    params=call.params,
                    headers=call.headers,
                )
            except httpx.TransportError as error:
                failure: Exception = protocol.connection_failed(call, error)
                retryable, retry_after, reason = (
                    may_retry_error(call.safety, error),
                    None,
                    type(error).__name__,
                )
                cause: BaseException | None = error
            else:
                if response.status_code < 400:
                    return response
                failure = api_error = protocol.error_of(response)
                retry_after, reason = api_error.retry_after, f"HTTP {response.status_code}"
                retryable = may_retry_status(call.safety, response.status_code, retry_after)
                cause = None
            wait = next_wait(policy, attempt, retry_after, started) if retryable else None
            if wait is None:
                raise failure from cause
            log_retry(call, reason, attempt, policy, wait)
            await policy.async_sleep(wait)
            attempt += 1
