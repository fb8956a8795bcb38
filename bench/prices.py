"""AWS list prices the cost table multiplies the measured figures by: us-east-1, on-demand, no
free tier, no Savings Plans, no volume tiers beyond the first.

Each price names where it was read and when. The AWS pricing pages render their tables from
scripts, so where the stored copy of an official page did not show the figure, the source says
which page states it and which page confirmed the number; a price that could not be confirmed is
marked `confirmed=False` and the report says so.
"""

from dataclasses import dataclass

REGION = "us-east-1"
CHECKED = "2026-12-02"


@dataclass(frozen=True)
class Price:
    """One list price: dollars per `unit`."""

    dollars: float
    unit: str
    source: str
    confirmed: bool = True
    note: str = ""


# Lambda: arm64 (the template's Architectures), first tier (up to 7.5 billion GB-s a month).
LAMBDA_GB_SECOND_ARM = Price(
    0.0000133334,
    "GB-second (arm64)",
    "https://aws.amazon.com/lambda/pricing/ (its tables are script-rendered; the arm64 first-tier "
    "figure as quoted by cloudchipr.com/blog/aws-lambda-pricing)",
)
LAMBDA_REQUEST = Price(0.20 / 1_000_000, "request", "https://aws.amazon.com/lambda/pricing/")
# Lambda's CPU share grows with memory: 1,769 MB is one vCPU.
LAMBDA_MB_PER_VCPU = 1769
LAMBDA_MEMORY_SOURCE = "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"

# HTTP API: first 300 million requests a month; metered in 512 KB increments.
HTTP_API_REQUEST = Price(
    1.00 / 1_000_000,
    "request (first 300 M a month)",
    "https://aws.amazon.com/api-gateway/pricing/ (the figure as the AWS whitepaper "
    "docs.aws.amazon.com/whitepapers/latest/best-practices-api-gateway-private-apis-integration/"
    "cost-optimization.html quotes it)",
)

# DynamoDB on-demand, Standard table class. On-demand throughput was halved on 1 November 2024:
# these are the prices since (before: $1.25 per million WRU, $0.25 per million RRU).
DYNAMODB_WRITE_UNIT = Price(
    0.625 / 1_000_000,
    "write request unit",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ (script-rendered; the post-Nov-2024 figure "
    "as airbyte.com/data-engineering-resources/dynamodb-pricing quotes it)",
)
DYNAMODB_READ_UNIT = Price(
    0.125 / 1_000_000,
    "read request unit",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ (as above)",
)
DYNAMODB_STORAGE = Price(
    0.25,
    "GB-month (after the first 25 GB, which are free)",
    "https://aws.amazon.com/dynamodb/pricing/",
)
DYNAMODB_PITR = Price(
    0.20,
    "GB-month of table size (point-in-time recovery)",
    "https://aws.amazon.com/dynamodb/pricing/on-demand/ (script-rendered; the figure as "
    "finops.com.py/services/dynamodb/backups quotes it)",
    confirmed=False,
    note="not found on a stored official page; a third-party page quotes it",
)
# DynamoDB bills 100 bytes of overhead per item (and per index entry) in storage.
DYNAMODB_ITEM_OVERHEAD_BYTES = 100

# KMS: customer managed symmetric key, and its symmetric requests.
KMS_KEY_MONTH = Price(
    1.00,
    "key-month",
    "https://aws.amazon.com/kms/pricing/",
    note="automatic rotation (EnableKeyRotation) adds $1/month per rotated backing key",
)
KMS_REQUEST = Price(
    0.03 / 10_000,
    "request",
    "https://aws.amazon.com/kms/pricing/ (figure as wring.co/blog/aws-kms-pricing-guide quotes it)",
)

# CloudWatch Logs, Standard class ingestion: Lambda's logs are vended logs (tiered since May
# 2025; the first tier is this price). Storage after ingestion is $0.03/GB-month, compressed.
LOGS_INGESTED_GB = Price(
    0.50,
    "GB ingested (first tier)",
    "https://aws.amazon.com/cloudwatch/pricing/ (figure as duckbillgroup.com and hykell.com quote it)",
)

# SQS standard queue: each 64 KB chunk of a request is one request.
SQS_REQUEST = Price(
    0.40 / 1_000_000,
    "request (first 100 billion a month)",
    "https://aws.amazon.com/sqs/pricing/ (figure as cloudburn.io/blog/amazon-sqs-pricing quotes it)",
)

# Secrets Manager: the comparison.
SECRET_MONTH = Price(
    0.40,
    "secret-month",
    "https://aws.amazon.com/secrets-manager/pricing/ (its examples state the figure)",
)
SECRETS_API_CALL = Price(
    0.05 / 10_000,
    "API call (GetSecretValue, PutSecretValue)",
    "https://aws.amazon.com/secrets-manager/pricing/",
)

ALL = {
    "Lambda duration": LAMBDA_GB_SECOND_ARM,
    "Lambda requests": LAMBDA_REQUEST,
    "HTTP API requests": HTTP_API_REQUEST,
    "DynamoDB write request unit": DYNAMODB_WRITE_UNIT,
    "DynamoDB read request unit": DYNAMODB_READ_UNIT,
    "DynamoDB storage": DYNAMODB_STORAGE,
    "DynamoDB point-in-time recovery": DYNAMODB_PITR,
    "KMS key": KMS_KEY_MONTH,
    "KMS requests": KMS_REQUEST,
    "CloudWatch Logs ingestion": LOGS_INGESTED_GB,
    "SQS requests": SQS_REQUEST,
    "Secrets Manager secret": SECRET_MONTH,
    "Secrets Manager API calls": SECRETS_API_CALL,
}
