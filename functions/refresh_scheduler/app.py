"""Scheduled (EventBridge): start a refresh run, one message per range of the index's shards on the
shard queue (each a shard scanner's invocation of its own)."""

import time
import uuid
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from integration_credentials.adapters.aws import sqs_client
from integration_credentials.adapters.observability import logger, metrics, traced
from integration_credentials.core.settings import require_settings
from integration_credentials.logic.scheduler import dispatch_run, run_id_of

# At init: without its queue (or table) the function fails its cold start, naming the variable.
require_settings("refresh_scheduler")


@logger.inject_lambda_context(clear_state=True, log_event=False)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = require_settings("refresh_scheduler")  # the process's, parsed and checked at init
    # EventBridge redelivers an event (and Lambda retries its invocation) with the same id: the
    # same run, whose messages the FIFO queue drops as duplicates.
    event_id = event.get("id") if isinstance(event, dict) else None
    run = run_id_of(event_id if isinstance(event_id, str) and event_id else str(uuid.uuid4()))
    dispatched = dispatch_run(
        sqs_client(), str(settings.refresh_shard_queue_url), run=run, now=time.time(), settings=settings
    )
    summary = dispatched.summary()
    logger.info("refresh run dispatched", extra=summary)
    metrics.add_metric(name="RefreshShardVisits", unit="Count", value=summary["visits"])
    return summary
