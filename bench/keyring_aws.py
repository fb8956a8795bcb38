"""The AWS `bench.keyring` measures against: moto in a thread of the process, the service's
KMS key, the key store's table, and clients whose calls are counted; and the secrets and
encryption contexts it encrypts."""

import contextlib
import json
import logging
import os
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session

from . import keyring_pipelines as pipelines

ORGS = 8
TABLE = "credentials-key-store"


@dataclass
class Calls:
    """AWS calls made by the clients watched, by `service:Operation` (before any retry)."""

    counts: Counter[str] = field(default_factory=Counter)
    consistent_reads: set[bool] = field(default_factory=set)

    def watch(self, events: Any) -> None:
        events.register("before-parameter-build", self._seen)

    def _seen(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.counts[f"{model.service_model.endpoint_prefix}:{model.name}"] += 1
        if model.name == "GetItem":
            self.consistent_reads.add(bool(params.get("ConsistentRead")))

    def take(self) -> dict[str, int]:
        taken = dict(self.counts)
        self.counts.clear()
        return taken


@dataclass
class Aws:
    """moto's endpoint, watched clients, the service's KMS key and the key store."""

    calls: Calls
    kms: Any
    dynamodb: Any
    key_arn: str
    store: Any

    def session(self) -> botocore.session.Session:
        """A botocore session whose clients are watched (today's master key provider's)."""
        session = botocore.session.Session()
        self.calls.watch(session)
        return session


@contextlib.contextmanager
def moto_aws() -> Iterator[Aws]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=f"http://{host}:{port}",
    )
    try:
        calls = Calls()
        kms, dynamodb = boto3.client("kms"), boto3.client("dynamodb")
        key_arn = kms.create_key(Description="credentials")["KeyMetadata"]["Arn"]
        dynamodb.create_table(
            TableName=TABLE,
            KeySchema=pipelines.KEY_STORE_KEY_SCHEMA,
            AttributeDefinitions=pipelines.KEY_STORE_ATTRIBUTES,
            BillingMode="PAY_PER_REQUEST",
        )
        calls.watch(kms.meta.events)
        calls.watch(dynamodb.meta.events)
        yield Aws(calls, kms, dynamodb, key_arn, pipelines.key_store(kms, dynamodb, TABLE, key_arn))
    finally:
        server.stop()
        os.environ.clear()
        os.environ.update(saved)


def secret(index: int) -> bytes:
    """A 1 KB JSON secret, as the cipher serialises one."""
    document = {
        "dsn": f"hubspot://portal-{index}",
        "access_token": "t" * 700,
        "metadata": {"refresh_token": "r" * 200, "expires_at": 1_800_000_000 + index, "scopes": ["crm"]},
    }
    return json.dumps(document, separators=(",", ":")).encode()


def context(index: int) -> dict[str, str]:
    return {"org_id": f"org-{index % ORGS}", "provider": "hubspot", "id": str(uuid.uuid4())}


def timed(samples: list[float], work: Callable[[], Any]) -> Any:
    start = time.thread_time()
    result = work()
    samples.append(time.thread_time() - start)
    return result


def us(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e6:,.0f} µs"


def calls_text(calls: dict[str, int] | Counter[str]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(calls.items())) or "none"
