"""Scheduled (EventBridge): enqueue the credentials whose access tokens are due for refresh."""

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from integration_credentials.adapters.aws import sqs_client
from integration_credentials.adapters.observability import logger, metrics, traced
from integration_credentials.adapters.storage.refresh_index import refresh_index
from integration_credentials.core.settings import require_settings
from integration_credentials.logic.scheduler import enqueue_due

# At init: without its queue (or table) the function fails its cold start, naming the variable.
require_settings("refresh_scheduler")


@logger.inject_lambda_context(clear_state=True, log_event=False)
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = require_settings("refresh_scheduler")  # the process's, parsed and checked at init
    queue_url = str(settings.refresh_queue_url)
    run = enqueue_due(refresh_index(), sqs_client(), queue_url, now=time.time(), settings=settings)
    summary = run.summary()
    logger.info("refresh run", extra=summary)
    metrics.add_metric(name="RefreshEnqueued", unit="Count", value=summary["enqueued"])
    return summary
