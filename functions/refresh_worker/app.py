"""SQS: refresh the credentials the scheduler enqueued, and revoke at the CRM the grants of the
credentials DELETE removed (batch, partial failures retried).

The records of a batch are refreshed at once, at most REFRESH_WORKER_CONCURRENCY at a time: each
waits on its provider, not on this function. Each still takes its own lease, and checks the time
left before the lease and before the provider call (a record that would not fit is not started
and comes back as a batch item failure).
"""

from typing import Any

# Loaded at init, not by the first request: every refresh decrypts and re-encrypts.
import integration_credentials.adapters.crypto.cipher  # noqa: F401
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from integration_credentials.adapters.budget import seconds_left, time_budget
from integration_credentials.adapters.observability import logger, metrics, traced
from integration_credentials.core.settings import require_settings
from integration_credentials.http.errors import audit_status
from integration_credentials.logic.worker import (
    handle_queued_message,
    in_refresh_pool,
    prepare_concurrent_refreshes,
)

# At init: without its table, key or OAuth client prefix the function fails its cold start.
require_settings("refresh_worker")

# A batch whose every record failed still answers with its item failures: only those messages
# come back (a raised error would say the function failed, and retry the batch as a whole).
# Powertools' async processor gathers the records; each runs in the worker's bounded thread pool.
processor = AsyncBatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


async def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    # Raises only when DynamoDB, KMS or SSM fail, when too little time is left to start a refresh,
    # or when the CRM fails a revocation for now: the message comes back (and is dead-lettered
    # after the queue's receive limit).
    return await in_refresh_pool(
        handle_queued_message,
        record.body,
        record.message_id,
        lambda: seconds_left(lambda_context),
        audit_status=audit_status,
    )


@logger.inject_lambda_context(clear_state=True, log_event=False)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    prepare_concurrent_refreshes()
    # The records' threads run in copies of this context, so their AWS calls keep to the budget.
    with time_budget(context):
        return async_process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
