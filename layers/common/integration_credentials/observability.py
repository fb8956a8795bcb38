"""Logger, Metrics and Tracer shared by every function (service name from POWERTOOLS_SERVICE_NAME).

Never log an event, a header, a body or any credential value: log ids, codes and outcomes.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="integration-credentials")
metrics = Metrics(namespace="IntegrationCredentials", service="integration-credentials")
tracer = Tracer(service="integration-credentials")
