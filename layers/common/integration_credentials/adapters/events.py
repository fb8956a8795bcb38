"""EventBridge events about credentials: connected (OAuth connect flow), re-authorization needed,
recovered, moved to another CRM account (a verification found another one, or a reconnect with
allow_account_change), and the grant of a deleted credential revoked at the CRM (or its
revocation failed).

Events carry ids, the status and the error code: never a token. Publishing happens after the
state is stored; a failed publish is logged and counted, not retried (the table is the truth,
and `status` says the same thing to anyone who reads it).
"""

import json
import time
from collections.abc import Mapping

import botocore.exceptions
from aws_lambda_powertools.metrics import MetricUnit

from ..core.models import StoredCredentials, format_timestamp
from ..core.settings import get_settings
from .aws import aws_error_code, events_client
from .observability import logger, metrics

SOURCE = "integration-credentials"
REAUTH_REQUIRED = "Integration Credentials Reauthorization Required"
RECOVERED = "Integration Credentials Recovered"
CONNECTED = "Integration Credentials Connected"
# The credentials now belong to another CRM account (a verification or an allowed reconnect).
ACCOUNT_CHANGED = "Integration Credentials Account Changed"
REVOKED = "Integration Credentials Revoked"
REVOCATION_FAILED = "Integration Credentials Revocation Failed"


def event_detail(row: StoredCredentials, extra: Mapping[str, object] | None = None) -> dict[str, object]:
    """The `detail` of an event about `row` (no secret: the state is plaintext bookkeeping), with
    `extra` fields after the usual ones."""
    state = row.state
    return {
        "id": row.id,
        "org_id": row.org_id,
        "provider": row.provider,
        "status": state.status,
        "last_error": state.last_error,
        "time": format_timestamp(time.time()),
        **(extra or {}),
    }


def publish(detail_type: str, row: StoredCredentials, extra: Mapping[str, object] | None = None) -> bool:
    """Put one event on the configured bus; False (logged, counted) when EventBridge fails.
    `extra`: fields of this detail type (never a secret)."""
    return _put(detail_type, event_detail(row, extra), row.id)


def publish_revocation(
    detail_type: str, *, org_id: str, provider: str, credentials_id: str, error_code: str | None = None
) -> bool:
    """The outcome of revoking a deleted credential's grant (`REVOKED` or `REVOCATION_FAILED`,
    with the provider's or local error code): the row is gone, so the event names it by its ids."""
    detail: dict[str, object] = {
        "id": credentials_id,
        "org_id": org_id,
        "provider": provider,
        "error_code": error_code,
        "time": format_timestamp(time.time()),
    }
    return _put(detail_type, detail, credentials_id)


def _put(detail_type: str, detail: dict[str, object], credentials_id: str) -> bool:
    entry = {
        "Source": SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":")),
        "EventBusName": get_settings().event_bus_name,
        "Resources": [],
    }
    try:
        response = events_client().put_events(Entries=[entry])  # type: ignore[list-item]
        failed = int(response.get("FailedEntryCount", 0))
        code = str(response.get("Entries", [{}])[0].get("ErrorCode", "")) if failed else ""
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as error:
        failed = 1
        code = aws_error_code(error)
    if failed:
        logger.warning(
            "event not published",
            extra={"detail_type": detail_type, "credentials_id": credentials_id, "code": code},
        )
        metrics.add_metric(name="EventPublishFailed", unit=MetricUnit.Count, value=1)
        return False
    return True
