"""How many KMS requests a refresh makes when workers cache branch keys: the arithmetic and a
simulation of it (no AWS here; `bench.keyring` confirms the per-miss counts against moto).

The model. A worker instance that refreshes a credential whose branch key it has not cached
within the TTL loads it: the library caches the branch key's active version (for encrypting)
and the version that wrapped the stored message (for decrypting) as two entries, each a
DynamoDB `GetItem` on the key store and a KMS `Decrypt`, loaded together and so expiring
together: `CALLS_PER_MISS` KMS requests. A refresh lands on any of the W instances alike (SQS
hands each batch to whichever poller asks). With K branch keys sharing R refreshes a second
evenly, each instance sees a given key's refreshes at rate r = R / (W K); with arrivals that
look random to the instance, the entry is loaded, lives T seconds, and the next miss is the
first refresh after that, so the share of refreshes that miss is 1 / (1 + r T), and

    KMS requests per refresh = CALLS_PER_MISS / (1 + R T / (W K)).

A branch key per org with N credentials refreshed every P seconds is K = orgs, R / K = N / P:
2 / (1 + N T / (W P)). Instances that Lambda recycles or adds start cold: at most K more misses
each per lifetime, left out here (lifetimes are hours, TTLs minutes).
"""

import random
from dataclasses import dataclass

from .prices import DYNAMODB_READ_UNIT, KMS_REQUEST

CALLS_PER_MISS = 2  # active version + the message's version (measured: bench.keyring)
REFRESH_PERIOD_SECONDS = 2700  # one-hour tokens refreshed 15 minutes before expiry
SECONDS_A_MONTH = 30 * 86_400


def kms_per_refresh(rate_per_key: float, workers: int, ttl_seconds: float) -> float:
    """KMS requests per refresh when each branch key sees `rate_per_key` refreshes a second."""
    per_instance = rate_per_key / workers
    return CALLS_PER_MISS / (1 + per_instance * ttl_seconds)


@dataclass(frozen=True)
class Simulated:
    """One simulated steady state: refreshes made and branch-key loads (misses)."""

    refreshes: int
    misses: int

    @property
    def kms_per_refresh(self) -> float:
        return CALLS_PER_MISS * self.misses / self.refreshes if self.refreshes else 0.0


def simulate(
    *,
    keys: int,
    credentials_per_key: int,
    workers: int,
    ttl_seconds: float,
    periods: int = 8,
    seed: int = 26,
) -> Simulated:
    """Each credential refreshed every `REFRESH_PERIOD_SECONDS` at its own phase, each refresh
    on a random worker whose cache keeps a loaded branch key for `ttl_seconds`. The first
    two periods warm the caches and are not counted."""
    draw = random.Random(seed)  # noqa: S311 - a simulation, not a secret
    phases = [
        (draw.uniform(0, REFRESH_PERIOD_SECONDS), key)
        for key in range(keys)
        for _ in range(credentials_per_key)
    ]
    phases.sort()
    expires: dict[tuple[int, int], float] = {}
    refreshes = misses = 0
    for period in range(periods):
        for phase, key in phases:
            now = period * REFRESH_PERIOD_SECONDS + phase
            worker = draw.randrange(workers)
            cold = expires.get((worker, key), -1.0) <= now
            if cold:
                expires[(worker, key)] = now + ttl_seconds
            if period >= 2:
                refreshes += 1
                misses += cold
    return Simulated(refreshes, misses)


def expected_first_touches(keys: int, credentials_per_key: int, workers: int) -> float:
    """Branch-key loads expected in one round (every credential refreshed once, within one TTL):
    each (worker, key) pair that at least one of the key's refreshes lands on."""
    return keys * workers * (1 - (1 - 1 / workers) ** credentials_per_key)


def steady_state(quick: bool, read_units: float) -> list[str]:
    """KMS requests per refresh in steady state: the formula of `keyring_sharing` and its
    simulation, for a branch key per org and for shared branch keys, and what they cost."""
    lines = [
        "## KMS requests per refresh in steady state (formula / simulation)",
        "",
        f"Refreshed every {REFRESH_PERIOD_SECONDS} s; {CALLS_PER_MISS} KMS "
        "`Decrypt`s and as many key-store `GetItem`s per branch-key load; today: 2 KMS calls per refresh, "
        "no key-store read.",
        "",
        "| branch keys | W instances | TTL 300 s | TTL 3,600 s |",
        "|---|---|---|---|",
    ]
    period = REFRESH_PERIOD_SECONDS
    for per_org in (1, 5, 20):
        for workers in (16, 64):
            cells = []
            for ttl in (300, 3600):
                formula = kms_per_refresh(per_org / period, workers, ttl)
                simulated = simulate(
                    keys=20 if quick else 100, credentials_per_key=per_org, workers=workers, ttl_seconds=ttl
                )
                cells.append(f"{formula:.3f} / {simulated.kms_per_refresh:.3f}")
            lines.append(f"| one per org, N = {per_org} credentials | {workers} | {cells[0]} | {cells[1]} |")
    for stored in (10_000, 1_000_000, 10_000_000):
        for keys in (1, 64):
            for workers in (16, 64, 256):
                cells = []
                for ttl in (300, 3600):
                    formula = kms_per_refresh(stored / period / keys, workers, ttl)
                    text = f"{formula:.4f}"
                    if stored == 10_000 and not quick:
                        simulated = simulate(
                            keys=keys,
                            credentials_per_key=stored // keys,
                            workers=workers,
                            ttl_seconds=ttl,
                            periods=4,
                        )
                        text += f" / {simulated.kms_per_refresh:.4f}"
                    cells.append(text)
                name = "one shared" if keys == 1 else f"{keys} (one per shard)"
                lines.append(f"| {name}, {stored:,} credentials | {workers} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        "### A month of refresh crypto, KMS requests + key-store reads (us-east-1 list prices; a "
        f"key-store read is {read_units:g} read unit: item under 4 KB, "
        f"{'strongly' if read_units == 1 else 'eventually'} consistent)",
        "",
    ]
    lines += [
        "| credentials | today | one key per org, N = 5, W = 16, TTL 300 s "
        "| one shared key, W = 16, TTL 300 s |"
    ]
    lines += ["|---|---|---|---|"]
    for stored in (10_000, 1_000_000, 10_000_000):
        refreshes = stored * SECONDS_A_MONTH / period
        org_keys = kms_per_refresh(5 / period, 16, 300)
        shared = kms_per_refresh(stored / period, 16, 300)

        def dollars(kms_per_refresh: float, reads: bool, refreshes: float = refreshes) -> str:
            cost = (
                refreshes
                * kms_per_refresh
                * (KMS_REQUEST.dollars + read_units * DYNAMODB_READ_UNIT.dollars * reads)
            )
            return f"${cost:,.2f} ({kms_per_refresh:.4f}/refresh)"

        lines.append(
            f"| {stored:,} | {dollars(2, False)} | {dollars(org_keys, True)} | {dollars(shared, True)} |"
        )
    return [*lines, ""]
