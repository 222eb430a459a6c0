"""Executions partitioned by day: ids unique across partitions, no catch-all partition, hour
buckets that equal the raw rows' aggregates, and retention that keeps what is still needed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import numpy as np
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.model_objective import ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput
from contracts.model_onex_error import ModelOnexError
from contracts.model_retention import ModelRetentionReport, ModelRetentionRequest
from contracts.model_reward import ModelRewardConfig, ModelRewardWeights
from nodes.adapters.cli.main import main
from nodes.compute.bucket_stats import array_values, histogram_of
from nodes.compute.node_reward_compute import NodeRewardCompute
from nodes.effect.node_execution_retention_effect import NodeExecutionRetentionEffect
from nodes.service import FeedbackLoopService
from nodes.stats.sketch import bin_of
from nodes.storage import sql_buckets
from nodes.storage.migrate import load_migrations, upgrade
from tests.cli_in_process import run_cli
from tests.factories import execution_rows, proposal
from tests.lifecycle import propose

PATTERN = "api_debug"


def _days_ago(days: float) -> datetime:
    return datetime.now(UTC) - timedelta(days=days)


def _rewards(config: ModelRewardConfig, rows: list[dict[str, Any]]) -> np.ndarray:
    return (
        NodeRewardCompute()
        .score_many(
            config,
            [r["duration_ms"] for r in rows],
            [r.get("cost_usd", np.nan) for r in rows],
            np.array([r["status"] == "success" for r in rows], dtype=bool),
        )
        .score
    )


async def _service(pool: asyncpg.Pool) -> FeedbackLoopService:
    service = FeedbackLoopService(pool=pool)
    await service.register(PATTERN, {"timeout_ms": 100})
    return service


async def test_an_id_is_unique_across_partitions(pool: asyncpg.Pool) -> None:
    service = await _service(pool)
    (row,) = execution_rows(1, seed=1, now=_days_ago(3))
    await service.ingest([row])
    again = {**row, "started_at": _days_ago(1)}  # another day, so another partition
    with pytest.raises(ModelOnexError) as exc:
        await service.ingest([again])
    assert exc.value.code is EnumErrorCode.DUPLICATE
    assert f"{row['execution_id']} is already stored" in exc.value.message
    # A writer other than ours is held to it too.
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status) VALUES ($1, $2, now(), 1, 'success')",
            row["execution_id"],
            PATTERN,
        )
    assert await pool.fetchval("SELECT count(*) FROM hook_executions") == 1
    # Skipping duplicates stores only the new row, whatever partition the old one is in.
    (fresh,) = execution_rows(1, seed=2, now=_days_ago(1))
    result = await service.ingest([again, fresh], on_duplicate="skip")
    assert (result.inserted, result.skipped_duplicates) == (1, 1)


async def test_there_is_no_catch_all_partition_and_days_exist_ahead(pool: asyncpg.Pool) -> None:
    assert (
        await pool.fetchval(
            "SELECT partdefid FROM pg_partitioned_table "
            "WHERE partrelid = 'hook_executions'::regclass"
        )
        == 0
    )
    with pytest.raises(asyncpg.PostgresError, match="no partition"):
        await pool.execute(
            "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
            "status) VALUES (gen_random_uuid(), 'p', now() - interval '400 days', 1, 'success')"
        )
    ahead = await pool.fetchval(
        "SELECT to_regclass('hook_executions_p' || "
        "to_char((now() AT TIME ZONE 'UTC') + interval '7 days', 'YYYYMMDD')) IS NOT NULL"
    )
    assert ahead


async def test_buckets_equal_the_raw_rows(pool: asyncpg.Pool) -> None:
    """Per hour and version, every count and sum, the first and last time, and the histogram
    of durations: as numpy computes them from the ingested rows (in three batches, so the
    trigger adds to buckets that exist)."""
    service = await _service(pool)
    rows = execution_rows(900, seed=3, now=_days_ago(0.5)) + execution_rows(
        300, version_id=f"{PATTERN}@1.0.0", seed=4, now=_days_ago(0.5)
    )
    for i, row in enumerate(rows):
        if i % 4 == 0:
            row["cost_usd"] = 0.002 * (i % 9)
        if i % 6 == 0:
            del row["user_rating"]
    for start in range(0, len(rows), 400):
        await service.ingest(rows[start : start + 400])
    buckets = await pool.fetch("SELECT * FROM execution_buckets WHERE width = 'hour'")
    config = ModelObjective(pattern_id=PATTERN).reward
    assert sum(b["n"] for b in buckets) == len(rows)
    for bucket in buckets:
        hour = bucket["bucket_start"]
        mine = [
            r
            for r in rows
            if (r["version_id"] or "") == bucket["version_id"]
            and hour <= r["started_at"] < hour + timedelta(hours=1)
        ]
        d = np.array([r["duration_ms"] for r in mine])
        assert bucket["n"] == len(mine)
        assert bucket["first_at"] == min(r["started_at"] for r in mine)
        assert bucket["duration_sum"] == pytest.approx(d.sum(), rel=1e-12)
        assert bucket["log_duration_sq"] == pytest.approx((np.log1p(d) ** 2).sum(), rel=1e-12)
        ratings = [r["user_rating"] for r in mine if "user_rating" in r]
        assert (bucket["rating_n"], bucket["rating_sq"]) == (
            len(ratings),
            pytest.approx(sum(x * x for x in ratings)),
        )
        costs = [r["cost_usd"] for r in mine if "cost_usd" in r]
        assert bucket["cost_n"] == len(costs)
        assert bucket["reward_sum"] == pytest.approx(_rewards(config, mine).sum(), rel=1e-9)
        bins, counts = np.unique(bin_of(d), return_counts=True)
        stored = dict(zip(bucket["duration_bins"], bucket["duration_counts"], strict=True))
        assert stored == dict(zip(bins.tolist(), counts.tolist(), strict=True))


async def test_a_new_reward_rebuilds_the_reward_sums(pool: asyncpg.Pool) -> None:
    service = await _service(pool)
    rows = execution_rows(400, seed=5, now=_days_ago(0.2))
    await service.ingest(rows)
    heavy = ModelRewardConfig(version=2, weights=ModelRewardWeights(latency=0.9, cost=0.05))
    objective = ModelObjective(pattern_id=PATTERN, reward=heavy)
    await service.set_objective(ModelObjectiveSetInput(objective=objective, actor="t"))
    total = await pool.fetchval("SELECT sum(reward_sum) FROM execution_buckets")
    assert total == pytest.approx(_rewards(heavy, rows).sum(), rel=1e-9)
    assert not math.isclose(
        total, _rewards(ModelObjective(pattern_id=PATTERN).reward, rows).sum(), rel_tol=1e-3
    )


async def _retain(pool: asyncpg.Pool, **request: Any) -> ModelRetentionReport:
    async with pool.acquire() as conn:
        return await NodeExecutionRetentionEffect().apply(conn, ModelRetentionRequest(**request))


async def _counts(pool: asyncpg.Pool) -> tuple[int, int, int]:
    """Stored rows, stored ids, and rows the buckets count."""
    row = await pool.fetchrow(
        "SELECT (SELECT count(*) FROM hook_executions) AS rows, "
        "(SELECT count(*) FROM execution_ids) AS ids, "
        "(SELECT sum(n) FROM execution_buckets) AS counted"
    )
    return row["rows"], row["ids"], row["counted"]


async def test_retention_drops_old_days_after_rolling_them_up(pool: asyncpg.Pool) -> None:
    service = await _service(pool)
    rows = execution_rows(300, seed=6, now=_days_ago(3)) + execution_rows(
        100, seed=7, now=_days_ago(0.1)
    )
    await service.ingest(rows)
    before = await pool.fetch(
        "SELECT version_id, sum(n) AS n, sum(duration_sum) AS d FROM execution_buckets "
        "GROUP BY 1 ORDER BY 1"
    )

    dry = await _retain(pool, retention_days=2, dry_run=True)
    assert dry.dropped and await _counts(pool) == (400, 400, 400)  # a dry run changes nothing

    report = await _retain(pool, retention_days=2)
    assert report.dropped == dry.dropped and report.not_aggregated == ()
    horizon = datetime.now(UTC) - timedelta(days=2)
    gone = [r for r in rows if r["started_at"].date() <= report.dropped[-1]]
    assert report.rows_dropped == len(gone) > 0
    kept = len(rows) - len(gone)
    assert await _counts(pool) == (kept, kept, 400)  # the buckets still count every row
    after = await pool.fetch(
        "SELECT version_id, sum(n) AS n, sum(duration_sum) AS d FROM execution_buckets "
        "GROUP BY 1 ORDER BY 1"
    )
    assert [(r["n"], pytest.approx(r["d"])) for r in after] == [(r["n"], r["d"]) for r in before]
    days = await pool.fetchval("SELECT count(*) FROM execution_buckets WHERE width = 'day'")
    assert days == len({r["started_at"].date() for r in gone})  # one per day that had rows
    assert all(
        datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) <= horizon
        for day in report.dropped
    )

    # Rows older than the horizon are refused in one line; nothing is stored.
    (old,) = execution_rows(1, seed=8, now=_days_ago(2.5))
    with pytest.raises(ModelOnexError) as exc:
        await service.ingest([old])
    assert "started_at" in exc.value.message and "executions are kept 2 days" in exc.value.message
    assert await _counts(pool) == (kept, kept, 400)
    assert (await _retain(pool)).dropped == ()  # nothing more to drop


async def test_retention_keeps_days_a_running_experiment_reads(pool: asyncpg.Pool) -> None:
    service = await _service(pool)
    rows = execution_rows(300, seed=9, now=_days_ago(2.5))
    await service.ingest(rows)
    async with pool.acquire() as conn:
        (improvement,) = await propose(conn, PATTERN, [proposal()])
    await pool.execute(
        "UPDATE improvements SET created_at = now() - interval '4 days' WHERE improvement_id = $1",
        improvement.improvement_id,
    )
    report = await _retain(pool, retention_days=1)
    need = datetime.now(UTC) - timedelta(days=4)
    assert report.kept_for_experiments
    for day in report.dropped:
        assert datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) <= need
    for day in report.kept_for_experiments:
        assert datetime.combine(day + timedelta(days=1), datetime.min.time(), UTC) > need
    kept = [r for r in rows if r["started_at"].date() not in report.dropped]
    assert await pool.fetchval("SELECT count(*) FROM hook_executions") == len(kept)


async def test_retention_stops_at_a_day_its_buckets_do_not_cover(pool: asyncpg.Pool) -> None:
    service = await _service(pool)
    await service.ingest(execution_rows(300, seed=10, now=_days_ago(3)))
    oldest = await pool.fetchval(
        "SELECT min(bucket_start) FROM execution_buckets WHERE width = 'hour'"
    )
    await pool.execute("DELETE FROM execution_buckets WHERE bucket_start = $1", oldest)
    before = await _counts(pool)
    report = await _retain(pool, retention_days=1)
    # Empty days before it go; it and every later day stay.
    assert report.not_aggregated == (oldest.date(),)
    assert all(day < oldest.date() for day in report.dropped)
    assert await _counts(pool) == before


async def test_doctor_rebuilds_buckets_that_sum_another_reward(pool: asyncpg.Pool) -> None:
    """As after an upgrade from before buckets: no stored reward, so the sums are NULL."""
    service = await _service(pool)
    rows = execution_rows(200, seed=11, now=_days_ago(0.3))
    await pool.execute("DELETE FROM execution_reward_params")
    await service.ingest(rows)
    assert await pool.fetchval("SELECT count(reward_sum) FROM execution_buckets") == 0
    found = await service.db_doctor()
    assert [f.line() for f in found.findings] == [
        f"stale bucket rewards: {PATTERN}: its execution buckets do not sum its objective's "
        "reward (looks read raw rows instead): --fix rebuilds the sums"
    ]
    assert not found.healthy
    assert (await service.db_doctor(fix=True)).healthy
    assert (await service.db_doctor()).findings == ()
    total = await pool.fetchval("SELECT sum(reward_sum) FROM execution_buckets")
    config = ModelObjective(pattern_id=PATTERN).reward
    assert total == pytest.approx(_rewards(config, rows).sum(), rel=1e-9)


async def test_retention_and_trends_from_the_cli(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    service = await _service(pool)
    rows = execution_rows(300, seed=12, now=_days_ago(0.5))
    await service.ingest(rows)
    out = await run_cli(db_dsn, capsys, "trends", PATTERN, "--by", "day", "--days", "5", "--json")
    points = [json.loads(line) for line in out.splitlines()]
    assert sum(p["n"] for p in points) == len(rows)
    by_day: dict[str, int] = {}
    for r in rows:
        day = r["started_at"].date().isoformat()
        by_day[day] = by_day.get(day, 0) + 1
    assert {p["start"][:10]: p["n"] for p in points} == by_day
    table = await run_cli(db_dsn, capsys, "trends", PATTERN, "--by", "hour", "--days", "100")
    assert table.splitlines()[0].split()[:3] == ["start", "(UTC)", "version"]
    assert len(table.splitlines()) == 1 + len(
        {r["started_at"].replace(minute=0, second=0, microsecond=0) for r in rows}
    )

    dry = await run_cli(db_dsn, capsys, "db", "retention", "--days", "1", "--dry-run")
    assert (
        "would drop:" in dry
        and await pool.fetchval("SELECT retention_days FROM execution_retention") == 30
    )
    report = json.loads(await run_cli(db_dsn, capsys, "db", "retention", "--days", "1", "--json"))
    assert report["retention_days"] == 1 and report["dry_run"] is False
    assert report["rows_dropped"] == sum(
        r["started_at"].date().isoformat() in report["dropped"] for r in rows
    )
    # The trend still counts every row: dropped days live on in their day buckets.
    out = await run_cli(db_dsn, capsys, "trends", PATTERN, "--days", "5", "--json")
    assert sum(json.loads(line)["n"] for line in out.splitlines()) == len(rows)
    with pytest.raises(SystemExit) as exit_:
        main(["--dsn", db_dsn, "db", "retention", "--days", "0"])
    assert exit_.value.code == 2
    assert "--days: must be a whole number >= 1 and <= 1000, got '0'" in capsys.readouterr().err


async def test_rows_stored_before_partitioning_are_moved_bucketed_and_kept_unique(
    empty_db_dsn: str,
) -> None:
    """A database at migration 0006 with executions: 0007 puts them in day partitions, their
    ids in execution_ids and their counts in buckets; their reward sums wait for doctor."""
    earlier = [m for m in load_migrations() if m.version < 7]
    rows = execution_rows(120, seed=13, now=_days_ago(40)) + execution_rows(
        80, seed=14, now=_days_ago(1)
    )
    conn = await asyncpg.connect(empty_db_dsn)
    try:
        for migration in earlier:
            await conn.execute(migration.sql)
        await conn.copy_records_to_table(
            "hook_executions",
            records=[
                (r["execution_id"], PATTERN, r["started_at"], r["duration_ms"], r["status"])
                for r in rows
            ],
            columns=("execution_id", "pattern_id", "started_at", "duration_ms", "status"),
        )
        await conn.execute(
            "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
            "checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.executemany(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            [(m.version, m.name, m.checksum) for m in earlier],
        )
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(empty_db_dsn, min_size=1, max_size=2)
    try:
        assert [m.version for m in await upgrade(pool)][:1] == [7]
        assert await _counts(pool) == (200, 200, 200)
        assert await pool.fetchval("SELECT count(reward_sum) FROM execution_buckets") == 0
        days = {r["started_at"].date() for r in rows}
        partitions = await pool.fetchval(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'hook_executions'::regclass "
            "AND inhrelid::regclass::text = ANY($1::text[])",
            [f"hook_executions_p{day:%Y%m%d}" for day in days],
        )
        assert partitions == len(days)  # the 40-day-old rows too, until retention drops them
        with pytest.raises(asyncpg.UniqueViolationError):
            await pool.execute(
                "INSERT INTO hook_executions (execution_id, pattern_id, started_at, duration_ms, "
                "status) VALUES ($1, $2, now(), 1, 'success')",
                rows[0]["execution_id"],
                PATTERN,
            )
    finally:
        await pool.close()


async def test_a_longer_retention_makes_its_days_ready_for_ingest(pool: asyncpg.Pool) -> None:
    """The horizon moves back: rows in the days it gained are stored, not refused by the
    database for want of a partition."""
    service = await _service(pool)
    rows = execution_rows(50, seed=15, now=_days_ago(36))
    with pytest.raises(ModelOnexError, match="executions are kept 30 days"):
        await service.ingest(rows)
    await _retain(pool, retention_days=45)
    assert (await service.ingest(rows)).inserted == 50


async def test_a_span_reads_an_edge_hour_from_its_bucket_only_when_all_its_rows_are_inside(
    pool: asyncpg.Pool,
) -> None:
    """A window's partial last hour: a version whose rows in that hour all lie inside the span
    is read from the hour's bucket, one with rows after the stop (as rows logged with a later
    time are) from raw rows; either way exactly the rows inside. The window starts on the
    whole hour its start falls in, so its first hour is read from buckets whatever its rows."""
    service = await _service(pool)
    stop = _days_ago(1).replace(minute=40, second=0, microsecond=0)
    start = stop - timedelta(days=1)  # no row sits on it
    window_start = start.replace(minute=0)
    minutes = {
        # Rows straddle both edge hours: some before the start, some after the stop.
        "api_debug@1.0.0": [-10, 5, 30, 60 * 12, 60 * 24 - 5, 60 * 24 + 5],
        # Rows without a version: all of its rows in the edge hours lie inside the span.
        "": [10, 60 * 12 + 1, 60 * 24 - 10],
    }
    rows = []
    for version, offsets in minutes.items():
        for i, offset in enumerate(offsets):
            (row,) = execution_rows(1, version_id=version or None, seed=len(rows), now=start)
            row["started_at"] = start + timedelta(minutes=offset)
            row["duration_ms"] = 100.0 + 10 * i
            rows.append(row)
    await service.ingest(rows)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL track_functions = 'pl'")
        parts = await sql_buckets.window_parts(conn, PATTERN, stop, 1)
        raw_reads = await conn.fetchval(
            "SELECT calls FROM pg_stat_xact_user_functions WHERE funcname = 'feedback_raw_buckets'"
        )
    assert raw_reads == 1  # the straddling version's last hour; the other's from its bucket
    for version in minutes:
        inside = [
            r
            for r in rows
            if (r["version_id"] or "") == version and window_start <= r["started_at"] < stop
        ]
        mine = [p for p in parts if p["version_id"] == version]
        assert sum(p["n"] for p in mine) == len(inside)
        assert sum(p["duration_sum"] for p in mine) == pytest.approx(
            sum(r["duration_ms"] for r in inside), rel=1e-12
        )
        assert histogram_of(mine).n == len(inside)


async def test_an_experiments_first_hour_is_split_once_and_kept_while_its_bucket_is_unchanged(
    pool: asyncpg.Pool,
) -> None:
    """The control's part of the experiment's first hour (from its start) is read raw once the
    hour is over, then kept: later looks read the kept part until a late row changes the hour's
    bucket. It goes with its bucket; windows (whose start moves) keep nothing."""
    service = await _service(pool)
    hour = _days_ago(1).replace(minute=0, second=0, microsecond=0)
    since, stop = hour + timedelta(minutes=30), hour + timedelta(hours=2)
    rows: list[dict[str, Any]] = []

    async def ingest(minutes: list[int], seed: int) -> None:
        new = execution_rows(len(minutes), version_id="api_debug@1.0.0", seed=seed, now=hour)
        for row, minute in zip(new, minutes, strict=True):
            row["started_at"] = hour + timedelta(minutes=minute)
        await service.ingest(new)
        rows.extend(new)

    async def look() -> tuple[int, int]:
        """The experiment's executions as read, and as the rows say."""
        async with pool.acquire() as conn:
            parts = await sql_buckets.experiment_parts(
                conn, PATTERN, "api_debug@1.0.0", "api_debug@9.9.9", stop, since
            )
        inside = [r for r in rows if since <= r["started_at"] < stop]
        assert histogram_of(parts).n == len(inside)
        total = sum(p["duration_sum"] for p in parts)
        assert total == pytest.approx(sum(r["duration_ms"] for r in inside), rel=1e-12)
        return sum(p["n"] for p in parts), len(inside)

    async def mark_kept_part() -> None:
        """Make the kept part tell itself apart: a look that reads it counts 1,000 more."""
        await pool.execute("UPDATE execution_bucket_splits SET part.n = (part).n + 1000")

    await ingest([10, 20, 40, 50, 70, 100], seed=1)
    read, expected = await look()
    assert read == expected == 4
    assert await pool.fetchval("SELECT count(*) FROM execution_bucket_splits") == 1
    await mark_kept_part()
    read, expected = await look()
    assert read == expected + 1000  # the kept part, not raw rows
    await ingest([45], seed=2)  # a late row after the start: the bucket changed
    read, expected = await look()
    assert read == expected == 5
    await mark_kept_part()
    await ingest([5], seed=3)  # and one before the start: read again, still not counted
    read, expected = await look()
    assert read == expected == 5
    async with pool.acquire() as conn:
        await sql_buckets.window_parts(conn, PATTERN, hour + timedelta(minutes=75), 1)
    assert await pool.fetchval("SELECT count(*) FROM execution_bucket_splits") == 1
    await pool.execute("DELETE FROM execution_buckets WHERE bucket_start = $1", hour)
    assert await pool.fetchval("SELECT count(*) FROM execution_bucket_splits") == 0


async def test_arrays_in_binary_form_read_as_the_driver_reads_them(pool: asyncpg.Pool) -> None:
    """Histograms travel as ``array_send`` bytes, read by numpy: the same values as the
    driver's own decoding, one array after the other, for int4 and int8, empty and NULL
    arrays included; an array with NULLs or of two dimensions is refused, not misread."""
    arrays = [[3, -7, 2_000_000_000], [], None, [5], [-(2**31)]]
    row = await pool.fetchrow(
        "SELECT array_agg(array_send(a::int4[]) ORDER BY i) AS int4,"
        " array_agg(array_send(a::int8[] || (2::int8 ^ 40)::int8) ORDER BY i) AS int8"
        " FROM unnest($1::text[]) WITH ORDINALITY AS t (a, i)",
        [None if a is None else "{" + ",".join(map(str, a)) + "}" for a in arrays],
    )
    expected = [v for a in arrays if a for v in a]
    assert array_values(row["int4"], "int4").tolist() == expected
    with_large = [v for a in arrays for v in [*(a or []), 2**40]]  # NULL || x is {x}
    assert array_values(row["int8"], "int8").tolist() == with_large
    for refused in ("ARRAY[1, NULL]::int4[]", "ARRAY[[1, 2], [3, 4]]::int4[]"):
        data = await pool.fetchval(f"SELECT array_send({refused})")
        with pytest.raises(ValueError, match="one-dimensional int4 arrays without NULLs"):
            array_values([data], "int4")
