"""Would the hierarchical keyring pay here? (issue 26, "fewer KMS calls per refresh").

Measures the AWS Cryptographic Material Providers Library's hierarchical keyring beside today's
cipher (`keyring_pipelines`): the cold-start and size price (`keyring_price`), the warm CPU of a
refresh's decrypt and encrypt of a 1 KB secret, the KMS and DynamoDB calls a refresh makes as
worker instances share branch keys (arithmetic and simulation in `keyring_sharing`, the per-miss
counts confirmed against moto), whether moto serves every call the key store and keyring make,
and whether messages written today still decrypt. Not part of `make bench`: the library is not
in the project's lock, so the run overlays it on the project's environment:

    uv run --with 'aws-encryption-sdk[MPL]==4.0.7' python -m bench.keyring [--quick] [--no-callgrind]

Prints markdown (docs/performance.md, "KMS per refresh: the hierarchical keyring", reads it).
AWS is moto in a thread of this process; CPU figures are `time.thread_time` of the calling
thread, so moto's work on its own thread is not in them.
"""

import argparse
import importlib.util
import logging
import random
import statistics
import sys
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import Any

from . import keyring_pipelines as pipelines
from . import keyring_price, keyring_sharing
from .common import X
from .keyring_aws import ORGS, Aws, calls_text, context, moto_aws, secret, timed, us


def warm_cpu(aws: Aws, iterations: int) -> list[str]:
    """A refresh's decrypt and encrypt, each way, interleaved message by message. Today's
    reader has never seen the message (another instance wrote it) and encrypts under a context it
    has no data key for: a KMS `Decrypt` and a `GenerateDataKey`, as on every refresh. The
    keyring's reader holds every org's branch key (warm cache): no AWS call."""
    sdk = pipelines.esdk_client()
    today_writer = pipelines.today_materials(aws.key_arn, aws.session())
    today = pipelines.today_materials(aws.key_arn, aws.session())
    keyring_writer = pipelines.hierarchical_keyring(aws.store, per_org=True, ttl_seconds=3600)
    keyring = pipelines.hierarchical_keyring(aws.store, per_org=True, ttl_seconds=3600)
    contexts = [context(i) for i in range(iterations)]
    written_today = [
        sdk.encrypt(
            source=secret(i),
            materials_manager=today_writer,
            encryption_context=c,
            algorithm=pipelines.ALGORITHM,
        )[0]
        for i, c in enumerate(contexts)
    ]
    written_keyring = [
        sdk.encrypt(
            source=secret(i), keyring=keyring_writer, encryption_context=c, algorithm=pipelines.ALGORITHM
        )[0]
        for i, c in enumerate(contexts)
    ]
    for i in range(ORGS):  # the reader's branch-key cache, warm for every org
        sdk.decrypt(source=written_keyring[i], keyring=keyring)
        sdk.encrypt(
            source=b"{}", keyring=keyring, encryption_context=contexts[i], algorithm=pipelines.ALGORITHM
        )
    aws.calls.take()
    samples: dict[str, list[float]] = {name: [] for name in ("td", "kd", "te", "ke", "tdc", "tec")}
    today_calls: Counter[str] = Counter()
    for i, c in enumerate(contexts):
        algorithm = pipelines.ALGORITHM
        plain = timed(samples["td"], partial(sdk.decrypt, source=written_today[i], materials_manager=today))[
            0
        ]
        today_calls.update(aws.calls.take())
        check = timed(samples["kd"], partial(sdk.decrypt, source=written_keyring[i], keyring=keyring))[0]
        if plain != secret(i) or check != secret(i):
            raise RuntimeError("a message did not decrypt to what was written")
        encrypt = partial(sdk.encrypt, source=plain, encryption_context=c, algorithm=algorithm)
        timed(samples["te"], partial(encrypt, materials_manager=today))
        today_calls.update(aws.calls.take())
        timed(samples["ke"], partial(encrypt, keyring=keyring))
    keyring_calls = aws.calls.take()
    # Today with its data key cached (the same context again and again): the SDK's local work.
    same = contexts[0]
    cached = sdk.encrypt(
        source=secret(0), materials_manager=today, encryption_context=same, algorithm=pipelines.ALGORITHM
    )[0]
    for _ in range(iterations):
        timed(samples["tdc"], lambda: sdk.decrypt(source=cached, materials_manager=today))
        timed(
            samples["tec"],
            lambda: sdk.encrypt(
                source=secret(0),
                materials_manager=today,
                encryption_context=same,
                algorithm=pipelines.ALGORITHM,
            ),
        )
    aws.calls.take()
    size_today = statistics.mean(len(m) for m in written_today)
    size_keyring = statistics.mean(len(m) for m in written_keyring)
    refresh_today = statistics.median(samples["td"]) + statistics.median(samples["te"])
    refresh_keyring = statistics.median(samples["kd"]) + statistics.median(samples["ke"])
    return [
        f"## Warm CPU: a refresh's decrypt and encrypt of a {len(secret(0))} B secret "
        f"(median of {iterations}, `thread_time`, moto's work excluded)",
        "",
        "| | decrypt | encrypt | decrypt + encrypt | AWS calls over the run | message size |",
        "|---|---|---|---|---|---|",
        f"| today: KMS master key provider, caching materials manager (a refresh: nothing cached) | "
        f"{us(samples['td'])} | {us(samples['te'])} | {refresh_today * 1e6:,.0f} µs | "
        f"{calls_text(today_calls)} | {size_today:,.0f} B |",
        f"| hierarchical keyring, branch key cached | {us(samples['kd'])} | {us(samples['ke'])} | "
        f"{refresh_keyring * 1e6:,.0f} µs | {calls_text(keyring_calls)} | {size_keyring:,.0f} B |",
        f"| today, data key cached (same context again; no refresh does this) | {us(samples['tdc'])} | "
        f"{us(samples['tec'])} | | 1 `GenerateDataKey` per 100 encrypts | |",
        "",
        f"Keyring / today per refresh: {refresh_keyring / refresh_today:.2f}{X} of the CPU "
        "(today's figure includes botocore's work for its two KMS calls, not KMS's latency).",
        "",
    ]


def refresh(sdk: Any, reader: Any, message: bytes, ctx: dict[str, str]) -> None:
    """What a worker does with a stored secret: decrypt it, encrypt its successor."""
    plain = sdk.decrypt(source=message, keyring=reader)[0]
    sdk.encrypt(source=plain, keyring=reader, encryption_context=ctx, algorithm=pipelines.ALGORITHM)


def confirm_sharing(aws: Aws, quick: bool) -> list[str]:
    """One round of refreshes (each credential once, well within the TTL) on W fresh instances
    (keyrings with caches of their own), each refresh on a random one: the KMS and DynamoDB calls
    counted at moto against CALLS_PER_MISS per (instance, branch key) pair touched."""
    sdk = pipelines.esdk_client()
    writer = pipelines.hierarchical_keyring(aws.store, per_org=True)
    shared_writer = pipelines.hierarchical_keyring(aws.store, per_org=False)
    draw = random.Random(26)  # noqa: S311 - which instance a message lands on
    cases = [(16, 1, True), (16, 5, True), (16, 20, True), (64, 20, True), (16, 20, False)]
    if quick:
        cases = cases[:2]
    lines = [
        f"## Branch-key loads in one round, counted at moto ({ORGS} orgs)",
        "",
        "| branch key | W instances | N credentials per org | refreshes | (instance, key) pairs touched "
        "| KMS calls | key-store `GetItem`s | expected pairs (mean) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for workers, per_org, org_keys in cases:
        contexts = [context(org) for org in range(ORGS) for _ in range(per_org)]
        key_writer = writer if org_keys else shared_writer
        messages = [
            sdk.encrypt(
                source=secret(0), keyring=key_writer, encryption_context=c, algorithm=pipelines.ALGORITHM
            )[0]
            for c in contexts
        ]
        instances = [pipelines.hierarchical_keyring(aws.store, per_org=org_keys) for _ in range(workers)]
        aws.calls.take()
        pairs = set()
        for message, ctx in zip(messages, contexts, strict=True):
            worker = draw.randrange(workers)
            refresh(sdk, instances[worker], message, ctx)
            pairs.add((worker, ctx["org_id"] if org_keys else pipelines.SHARED_BRANCH_KEY))
        counted = aws.calls.take()
        keys = ORGS if org_keys else 1
        expected = keyring_sharing.expected_first_touches(keys, len(contexts) // keys, workers)
        kms_calls = calls_text({name: n for name, n in counted.items() if name.startswith("kms")})
        lines.append(
            f"| {'per org' if org_keys else 'one shared'} | {workers} | {per_org} | {len(contexts)} | "
            f"{len(pairs)} | {kms_calls} | {counted.get('dynamodb:GetItem', 0)} | {expected:.1f} |"
        )
    lines += ["", f"Key-store reads are strongly consistent: {sorted(aws.calls.consistent_reads)}.", ""]
    return lines


def compatibility(aws: Aws) -> list[str]:
    """Do messages written today decrypt through the library, and the other way round?"""
    sdk = pipelines.esdk_client()
    ctx = context(0)
    old = sdk.encrypt(
        source=secret(0),
        materials_manager=pipelines.today_materials(aws.key_arn, aws.session()),
        encryption_context=ctx,
        algorithm=pipelines.ALGORITHM,
    )[0]
    hierarchical = pipelines.hierarchical_keyring(aws.store, per_org=True)
    new = sdk.encrypt(
        source=secret(1), keyring=hierarchical, encryption_context=ctx, algorithm=pipelines.ALGORITHM
    )[0]
    migration = pipelines.migration_keyring(hierarchical, aws.kms, aws.key_arn)
    aws.calls.take()

    def attempt(work: Callable[[], Any]) -> str:
        try:
            # The SDK logs a refused message's traceback ("Error on closing") before raising.
            logging.getLogger("aws_encryption_sdk").setLevel(logging.CRITICAL)
            plain, header = work()
        except Exception as error:  # the outcome is the figure
            return f"refused ({type(error).__name__})"
        good = plain in (secret(0), secret(1)) and dict(header.encryption_context) == ctx
        outcome = "decrypts, context intact" if good else "WRONG PLAINTEXT"
        return f"{outcome}; calls: {calls_text(aws.calls.take())}"

    rows = [
        (
            "a message written today, by the hierarchical keyring alone",
            lambda: sdk.decrypt(source=old, keyring=hierarchical),
        ),
        (
            "a message written today, by the migration keyring (hierarchical + AWS KMS keyring)",
            lambda: sdk.decrypt(source=old, keyring=migration),
        ),
        (
            "a keyring message, by the migration keyring of the instance that wrote it (its cache "
            "holds the active version only: decrypting loads the message's version, a second entry)",
            lambda: sdk.decrypt(source=new, keyring=migration),
        ),
        ("the same message again (both entries cached)", lambda: sdk.decrypt(source=new, keyring=migration)),
        (
            "a keyring message, by today's cipher (a rollback after new writes)",
            lambda: sdk.decrypt(
                source=new, materials_manager=pipelines.today_materials(aws.key_arn, aws.session())
            ),
        ),
    ]
    lines = ["## Compatibility", "", "| what | outcome |", "|---|---|"]
    lines += [f"| {name} | {attempt(work)} |" for name, work in rows]
    return [*lines, ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.keyring", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 iterations, fewer cases, no callgrind")
    parser.add_argument("--no-callgrind", action="store_true", help="skip the instruction counts")
    parser.add_argument("--iterations", type=int, default=1000)
    args = parser.parse_args(argv)
    if importlib.util.find_spec("aws_cryptographic_material_providers") is None:
        print(
            "needs the library: uv run --with 'aws-encryption-sdk[MPL]==4.0.7' python -m bench.keyring",
            file=sys.stderr,
        )
        return 2
    iterations = 200 if args.quick else args.iterations
    out = ["# The hierarchical keyring, measured (bench/keyring.py)", ""]
    out += keyring_price.price_lines(callgrind=not (args.quick or args.no_callgrind))
    with moto_aws() as aws:
        for org in range(ORGS):
            pipelines.create_branch_key(aws.store, f"org-{org}")
        pipelines.create_branch_key(aws.store, pipelines.SHARED_BRANCH_KEY)
        created = aws.calls.take()
        out += [f"Creating {ORGS + 1} branch keys on moto: {calls_text(created)}.", ""]
        out += warm_cpu(aws, iterations)
        out += confirm_sharing(aws, args.quick)
        out += compatibility(aws)
        consistent = aws.calls.consistent_reads
    out += keyring_sharing.steady_state(args.quick, 1.0 if True in consistent else 0.5)
    print("\n".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
