"""Refresh failures. Codes and messages never carry a token or a client secret."""

from ...core.errors import CredentialsError


class RefreshError(CredentialsError):
    """A token refresh failed; `code` is a short provider or local code, `message` a short text."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}" if message else code)


class PermanentRefreshError(RefreshError):
    """Retrying cannot help.

    `reconnect_required` is true when the stored grant is dead or incomplete (a human has to
    reconnect the CRM); false when the provider rejected the request for another reason (for
    example our client id or secret), which an operator has to fix.
    """

    def __init__(self, code: str, message: str, *, reconnect_required: bool = True) -> None:
        self.reconnect_required = reconnect_required
        super().__init__(code, message)


class TransientRefreshError(RefreshError):
    """5xx, 429, timeouts, connection errors: back off (at least `retry_after` seconds if set)."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(code, message)


class TokenRejectedError(RefreshError):
    """The CRM refused the token itself (401 or 403 to its identity call, such as Salesforce's 403
    `Bad_OAuth_Token`): the token is not valid now. Refresh once where the credential can; else, or
    when the refreshed token is refused too, the grant needs a human (`reauth_required`)."""
