"""Logger, Metrics and Tracer shared by every function (service name from POWERTOOLS_SERVICE_NAME).

Never log an event, a header, a body or any credential value: log ids, codes and outcomes.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from ..core.errors import DependencyError, DependencyMisconfiguredError

Handler = TypeVar("Handler", bound=Callable[..., Any])

# At DEBUG these libraries log what must never reach a log: Powertools' resolver logs the
# validated route arguments (the request body, tokens included), botocore logs request and
# response bodies (KMS GenerateDataKey returns the plaintext data key). Lambda's log-level
# controls or a root logger at DEBUG would switch them on; keep them at INFO or above.
SILENCED_LIBRARY_LOGGERS = ("aws_lambda_powertools", "botocore", "boto3", "urllib3", "aws_encryption_sdk")
for _name in SILENCED_LIBRARY_LOGGERS:
    logging.getLogger(_name).setLevel(logging.INFO)


class _ThreadSafeMetrics(Metrics):
    """Powertools Metrics that the refresh worker's threads may add to at once: its metric set is
    a plain dict read, changed and stored back, so two threads adding the same metric could lose
    a value."""

    _lock = threading.Lock()

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            super().add_metric(*args, **kwargs)


logger = Logger(service="integration-credentials")
metrics = _ThreadSafeMetrics(namespace="IntegrationCredentials", service="integration-credentials")


def report_dependency_error(error: DependencyError) -> None:
    """Log and count a DynamoDB/KMS/SSM failure as the alarms expect: `DependencyMisconfigured`
    (an operator must act) or `DependencyUnavailable` (retrying can succeed)."""
    extra = {"dependency": error.dependency, "code": error.code}
    if isinstance(error, DependencyMisconfiguredError):
        logger.error("dependency misconfigured", extra=extra)
        metrics.add_metric(name="DependencyMisconfigured", unit=MetricUnit.Count, value=1)
    else:
        logger.warning("dependency unavailable", extra=extra)
        metrics.add_metric(name="DependencyUnavailable", unit=MetricUnit.Count, value=1)


def report_integrity_failure(reason: str, credentials_id: str | None) -> None:
    """Log and count an item this service did not write as it reads it (a forged or misplaced row
    or mirror, a ciphertext under another context): the `IntegrityError` alarm's metric. The reason
    is a fixed text of ours, never data from the item."""
    logger.error("integrity check failed", extra={"reason": reason, "credentials_id": credentials_id})
    metrics.add_metric(name="IntegrityError", unit=MetricUnit.Count, value=1)


def _tracer() -> Tracer | None:
    """The Tracer, only where it traces: on Lambda, not under `sam local`, unless
    POWERTOOLS_TRACE_DISABLED (Powertools' own rule). A Tracer imports the X-Ray SDK even when it
    is disabled, and outside Lambda (sam local, `make run`, tests, the benchmark) importing the SDK
    builds a botocore session and two X-Ray clients for its centralized sampler, a large part of a
    cold start for traces that are never sent. On Lambda the SDK uses a local sampler."""
    if Tracer._is_tracer_disabled():  # Powertools' own rule, private but kept in one place
        return None
    return Tracer(service="integration-credentials")


tracer = _tracer()


def traced(handler: Handler) -> Handler:
    """`tracer.capture_lambda_handler` where tracing is on (never capturing the response: it holds
    tokens); the handler unchanged where it is off."""
    if tracer is None:
        return handler
    return cast(Handler, tracer.capture_lambda_handler(capture_response=False)(handler))
