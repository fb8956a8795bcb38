"""The synchronous client: every route of the service, with retries (see `retry`)."""

import logging
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import httpx

from . import _protocol as protocol
from .models import ConnectStarted, Credentials
from .retry import RetryPolicy, may_retry_error, may_retry_status, next_wait

logger = logging.getLogger("integration_credentials_client")


def log_retry(call: protocol.Call, reason: str, attempt: int, policy: RetryPolicy, wait: float) -> None:
    # The operation and the reason only: never a URL's query, a header or a body.
    logger.warning(
        "integration-credentials %s: %s, retrying in %.1f s (attempt %d of %d)",
        call.operation,
        reason,
        wait,
        attempt + 1,
        policy.attempts,
    )


class Client:
    """The integration-credentials API. Give `api_key` (X-API-Key) or `token` (a bearer JWT).

    `retries`: how many times a failed call may be repeated (an int), or a `RetryPolicy`.
    `transport`: an httpx transport (tests, proxies); `timeout` in seconds per request."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 10.0,
        retries: int | RetryPolicy = 3,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = RetryPolicy.of(retries)
        self._principal = api_key if api_key is not None else token
        self._http = httpx.Client(
            headers=protocol.auth_headers(api_key, token), timeout=timeout, transport=transport
        )

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    def __enter__(self) -> "Client":
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def create(
        self,
        provider: str,
        dsn: str,
        access_token: str,
        metadata: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
        verify: bool = False,
    ) -> Credentials:
        """Store credentials for a provider (Conflict if the org has them already). Retried with
        an Idempotency-Key (made here when not given): a retry never stores a second set. With
        `verify`, the service first checks them with the CRM: BadRequest when the CRM refuses the
        token (nothing stored), and the result carries `account` and `verified_at`."""
        call = protocol.create_call(provider, dsn, access_token, metadata, idempotency_key, verify)
        return self._credentials(call)

    def get(self, credentials_id: str) -> Credentials:
        """The credentials with this id."""
        return self._credentials(protocol.get_call(credentials_id))

    def get_by_provider(self, provider: str) -> Credentials:
        """The org's credentials for a provider."""
        return self._credentials(protocol.get_by_provider_call(provider))

    def list(self, page_size: int = protocol.PAGE_SIZE) -> Iterator[Credentials]:
        """Every credentials object of the org, a page at a time (ordered by provider)."""
        cursor: str | None = None
        while True:
            response = self._send(protocol.list_call(page_size, cursor))
            for item in protocol.json_array(response):
                yield Credentials.from_json(item)
            cursor = protocol.next_cursor(response)
            if cursor is None:
                return

    def update(
        self,
        credentials_id: str,
        dsn: str | None = None,
        access_token: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        if_match: str | None = None,
    ) -> Credentials:
        """Change some fields; `metadata` is a JSON Merge Patch (None values remove keys). With
        `if_match` (an `etag`), only at that version (PreconditionFailed otherwise), and retried;
        without it, never retried."""
        return self._credentials(protocol.update_call(credentials_id, dsn, access_token, metadata, if_match))

    def delete(self, credentials_id: str, if_match: str | None = None, *, revoke: bool = True) -> None:
        """Delete the credentials (with `if_match`, only at that version). The service then
        revokes their grant at the CRM (Salesforce, HubSpot, Pipedrive, Zoho), shortly after it
        answers; `revoke=False` keeps the grant (the tokens stay valid at the CRM)."""
        self._send(protocol.delete_call(credentials_id, if_match, revoke))

    def refresh(self, credentials_id: str) -> Credentials:
        """Refresh the access token now (ReauthorizationRequired when the grant is dead)."""
        return self._credentials(protocol.refresh_call(credentials_id))

    def verify(self, credentials_id: str) -> Credentials:
        """Check the credentials with their CRM now: their non-secret fields after the check
        (`status`, `account`, `verified_at`, `last_error`; no access token). A dead grant is
        `status == "reauth_required"`, not an exception; Conflict for a provider without an
        identity call."""
        return self._credentials(protocol.verify_call(credentials_id))

    def connect(
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
        """Start the CRM's OAuth flow (with `credentials_id`: reconnect those credentials); send
        the user's browser to the answer's `connect_url`. A reconnect whose consent lands on
        another CRM account than the credentials' is refused at the callback
        (`error=account_mismatch`) unless `allow_account_change` is true."""
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
        return ConnectStarted.from_json(protocol.json_object(self._send(protocol.connect_call(body))))

    def _credentials(self, call: protocol.Call) -> Credentials:
        response = self._send(call)
        return Credentials.from_json(protocol.json_object(response), response.headers.get("ETag"))

    def _send(self, call: protocol.Call) -> httpx.Response:
        policy = self.retries
        started, attempt = policy.clock(), 1
        while True:
            try:
                response = self._http.request(
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
            policy.sleep(wait)
            attempt += 1
