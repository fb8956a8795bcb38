"""A refresh run's plan: the index's shards split into the ranges its shard scanners visit (every
shard in exactly one), and the run's limits split into shares that add up to them, so they hold
across all the shards of the run."""

from hypothesis import given
from hypothesis import strategies as st
from integration_credentials.core.constants import DEFAULT_PROVIDER_LIMIT, REFRESH_SHARDS
from integration_credentials.core.settings import Settings
from integration_credentials.logic.scheduler import ShardVisit, plan_run, run_id_of, share

PROVIDERS = ("salesforce", "hubspot", "pipedrive", "zoho", "dynamics", "my-crm")


def settings(**values: object) -> Settings:
    return Settings.validate({"table_name": "t", "kms_key_arn": "k", **values})


@given(
    scanners=st.integers(min_value=1, max_value=REFRESH_SHARDS),
    batch_limit=st.integers(min_value=1, max_value=300_000),
    hubspot=st.integers(min_value=0, max_value=5_000),
    now=st.floats(min_value=0, max_value=4_000_000_000),
)
def test_every_shard_is_in_exactly_one_visit_and_the_shares_add_up_to_the_runs_limits(
    scanners: int, batch_limit: int, hubspot: int, now: float
) -> None:
    visits = plan_run(
        "run-1",
        now,
        settings(
            refresh_shard_scanners=scanners,
            refresh_batch_limit=batch_limit,
            refresh_provider_limits={"hubspot": hubspot},
        ),
    )
    assert len(visits) == scanners
    shards = [shard for visit in visits for shard in visit.shards]
    assert sorted(shards, key=int) == [str(shard) for shard in range(REFRESH_SHARDS)]
    assert max(len(v.shards) for v in visits) - min(len(v.shards) for v in visits) <= 1
    assert {visit.run for visit in visits} == {"run-1"}
    assert len({visit.due_by for visit in visits}) == 1
    assert sum(visit.limit for visit in visits) == batch_limit
    for provider in PROVIDERS:
        expected = hubspot if provider == "hubspot" else DEFAULT_PROVIDER_LIMIT
        assert sum(visit.provider_limit(provider) for visit in visits) == expected


def test_the_ranges_that_get_one_more_turn_with_the_minute() -> None:
    # 5 over 16 ranges: 5 ranges get 1, and which ones moves each minute (none always gets 0)
    first = [share(5, 16, index, 0) for index in range(16)]
    later = [share(5, 16, index, 1) for index in range(16)]
    assert sum(first) == sum(later) == 5 and first != later
    got_some = {index for minute in range(16) for index in range(16) if share(5, 16, index, minute)}
    assert got_some == set(range(16))


def test_a_visit_is_the_message_the_scanner_reads_back() -> None:
    (visit,) = plan_run("r", 120.5, settings(refresh_shard_scanners=1))
    assert ShardVisit.model_validate_json(visit.model_dump_json()) == visit
    assert visit.due_by == 120 and len(visit.shards) == REFRESH_SHARDS


def test_a_redelivered_schedule_event_is_the_same_run() -> None:
    assert run_id_of("53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa") == run_id_of(
        "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa"
    )
    assert run_id_of("a") != run_id_of("b")
    assert len(run_id_of("x" * 500)) == 32  # a deduplication id's part, whatever the event's id
