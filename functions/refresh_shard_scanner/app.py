"""SQS (FIFO shard queue): one range of the refresh-due index's shards in one run; enqueue its due
credentials for the workers, within the range's share of the run's limits. A range that fails
comes back alone (partial batch failures) and is dead-lettered after the queue's receive limit."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from integration_credentials.adapters.aws import sqs_client
from integration_credentials.adapters.observability import logger, metrics, traced
from integration_credentials.adapters.storage.refresh_index import refresh_index
from integration_credentials.core.settings import require_settings
from integration_credentials.logic.scheduler import scan_queued_visit

# At init: without the refresh queue (or table) the function fails its cold start, naming it.
require_settings("refresh_shard_scanner")

# A range whose scan failed answers with its item failure: only its message comes back (a raised
# error would say the function failed). One record a batch (BatchSize 1), so the FIFO rule of
# failing the rest of a group after a failed record never applies.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> dict[str, Any]:
    # Raises only when DynamoDB or SQS fail: the range comes back for a retry.
    settings = require_settings("refresh_shard_scanner")
    summary = scan_queued_visit(
        refresh_index(), sqs_client(), str(settings.refresh_queue_url), record.body, record.message_id
    )
    metrics.add_metric(name="RefreshEnqueued", unit="Count", value=summary.get("enqueued", 0))
    return summary


@logger.inject_lambda_context(clear_state=True, log_event=False)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
