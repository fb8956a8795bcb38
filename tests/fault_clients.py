"""Clients that check every answer against the table while dependencies fail at random: the
in-process suite (tests/integration) and the local stack's (tests/e2e) run the same ones.

Every answer is the truth about a completed write, or a 503 with Retry-After and a `detail` after
which the write is absent; a retried idempotent create ends in its original 201."""

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

from local_stack.aws_faults import ANY_FUNCTION

THREADS = 6
ROUNDS = 3
# A client retries a 503 this many times at most (each retry is a new request).
RETRIES = 40
DYNAMODB_RATE = 0.06  # per kind: about a quarter of the calls fail one way or another
KMS_RATE = 0.04
SLOW_SECONDS = 0.2  # slower than usual, within the clients' read timeout
KINDS = ("throttle", "server_error", "reset", "lost", "slow")


def inject_random_faults(faults, dynamodb_rate=DYNAMODB_RATE, kms_rate=KMS_RATE):
    """DynamoDB and KMS failing at random, every kind at once (each at its rate), for the
    functions' calls only (the clients' own checks read the table unharmed). `faults`: an
    `EmbeddedAws` or `RemoteFaults`."""
    for service, rate in (("dynamodb", dynamodb_rate), ("kms", kms_rate)):
        for kind in KINDS:
            seconds = SLOW_SECONDS if kind == "slow" else 0.0
            faults.inject(service, kind, rate=rate, seconds=seconds, callers=[ANY_FUNCTION])


def assert_503(reply):
    assert reply.status == 503, (reply.status, reply.raw)
    assert reply.headers.get("Retry-After", "").isdigit(), reply.headers
    assert reply.json["detail"] in {
        "Service temporarily unavailable (DynamoDB); retry later",
        "Service temporarily unavailable (KMS); retry later",
    }, reply.raw


class Client:
    """One sync job: its own provider in the shared org, checking each answer against the table.
    `api` has the in-process suite's route shorthands (create, get, get_by_provider, list,
    update, delete) answering `Reply`s (status, headers, json, raw)."""

    def __init__(self, api, dynamodb, table_name, org_id, headers, index):
        self.api, self.org_id, self.headers = api, org_id, headers
        self.dynamodb, self.table_name = dynamodb, table_name
        self.provider = f"crm-{index}"
        self.answers = 0
        self.unavailable = 0

    def row(self):
        item = self.dynamodb.get_item(
            TableName=self.table_name,
            Key={"org_id": {"S": self.org_id}, "provider": {"S": self.provider}},
            ConsistentRead=True,
        ).get("Item")
        return (item["id"]["S"], int(item["version"]["N"])) if item else None

    def until_answered(self, call, on_503):
        for _ in range(RETRIES):
            reply = call()
            self.answers += 1
            if reply.status == 409 and "still in progress" in reply.raw:
                # The documented transient answer of a keyed create whose earlier attempt left its
                # record in progress: a client retries it, and must then get the original 201.
                time.sleep(0.2)
                continue
            if reply.status != 503:
                return reply
            assert_503(reply)
            self.unavailable += 1
            on_503()
        raise AssertionError("no answer but 503 in all retries")

    def body(self, round_):
        token = f"token-{self.provider}-{round_}-{uuid.uuid4()}"
        return {
            "provider": self.provider,
            "dsn": "https://crm.example.com",
            "access_token": token,
            "metadata": {},
        }

    def run(self, barrier):
        barrier.wait(timeout=30)
        for round_ in range(ROUNDS):
            body = self.body(round_)
            created = self.create(body, keyed=round_ % 2 == 0)
            self.read(created)
            updated = self.update(created)
            self.read(updated)
            self.delete(updated)

    def create(self, body, *, keyed):
        if keyed:
            key = str(uuid.uuid4())
            reply = self.until_answered(
                lambda: self.api.create(self.headers, body, headers_extra={"Idempotency-Key": key}),
                lambda: self.assert_row(None),
            )
            assert reply.status == 201, reply.raw
            again = self.until_answered(
                lambda: self.api.create(self.headers, body, headers_extra={"Idempotency-Key": key}),
                lambda: None,
            )
            assert (again.status, again.json) == (201, reply.json), (again.raw, reply.raw)
        else:
            reply = self.until_answered(
                lambda: self.api.create(self.headers, body), lambda: self.assert_row(None)
            )
            assert reply.status == 201, reply.raw
        self.assert_row((reply.json["id"], 1))
        assert reply.json["access_token"] == body["access_token"]
        return reply.json

    def read(self, expected):
        for call in (
            lambda: self.api.get(self.headers, expected["id"]),
            lambda: self.api.get_by_provider(self.headers, self.provider),
        ):
            reply = self.until_answered(call, lambda: None)
            assert (reply.status, reply.json) == (200, expected), reply.raw
        listed = self.until_answered(lambda: self.api.list(self.headers), lambda: None)
        assert listed.status == 200, listed.raw
        assert [c for c in listed.json if c["provider"] == self.provider] == [expected]

    def update(self, created):
        before = self.row()
        token = f"rotated-{uuid.uuid4()}"
        reply = self.until_answered(
            lambda: self.api.update(self.headers, created["id"], {"access_token": token}),
            lambda: self.assert_row(before),
        )
        assert reply.status == 200, reply.raw
        assert reply.json["access_token"] == token
        self.assert_row((created["id"], before[1] + 1))
        assert reply.headers["ETag"] == f'"{before[1] + 1}"'
        return reply.json

    def delete(self, updated):
        before = self.row()
        reply = self.until_answered(
            lambda: self.api.delete(self.headers, updated["id"]), lambda: self.assert_row(before)
        )
        assert reply.status == 200, reply.raw
        self.assert_row(None)

    def assert_row(self, expected):
        assert self.row() == expected


def run_concurrently(clients):
    """Run every client's script at once (from a barrier); raises the first failed check."""
    barrier = threading.Barrier(len(clients))
    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        for future in [pool.submit(client.run, barrier) for client in clients]:
            future.result()


def run_one_by_one(clients):
    """Run the clients' scripts one after another (in process: see the integration test)."""
    for client in clients:
        client.run(threading.Barrier(1))


def org_count(dynamodb, table_name, org_id):
    """The org's credentials counter item, as stored."""
    item = dynamodb.get_item(
        TableName=table_name,
        Key={"org_id": {"S": f"ORGCOUNT#{org_id}"}, "provider": {"S": "COUNT"}},
        ConsistentRead=True,
    )["Item"]
    return int(item["credentials_count"]["N"])
