"""Logger, Metrics and Tracer shared by every function (service name from POWERTOOLS_SERVICE_NAME).

Never log an event, a header, a body or any credential value: log ids, codes and outcomes.
"""

import logging

from aws_lambda_powertools import Logger, Metrics, Tracer

# At DEBUG these libraries log what must never reach a log: Powertools' resolver logs the
# validated route arguments (the request body, tokens included), botocore logs request and
# response bodies (KMS GenerateDataKey returns the plaintext data key). Lambda's log-level
# controls or a root logger at DEBUG would switch them on; keep them at INFO or above.
SILENCED_LIBRARY_LOGGERS = ("aws_lambda_powertools", "botocore", "boto3", "urllib3", "aws_encryption_sdk")
for _name in SILENCED_LIBRARY_LOGGERS:
    logging.getLogger(_name).setLevel(logging.INFO)

logger = Logger(service="integration-credentials")
metrics = Metrics(namespace="IntegrationCredentials", service="integration-credentials")
tracer = Tracer(service="integration-credentials")
