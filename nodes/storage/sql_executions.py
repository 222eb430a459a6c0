"""All SQL on ``hook_executions`` outside bulk COPY: per-version aggregates computed in SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from contracts.model_pattern_feedback import TAIL_FRACTIONS
from contracts.model_reward import ModelRewardConfig

EXECUTION_COLUMNS = (
    "execution_id",
    "pattern_id",
    "version_id",
    "variant",
    "started_at",
    "duration_ms",
    "status",
    "quality_results",
    "performance_score",
    "error_message",
    "user_rating",
    "cost_usd",
    "metadata",
)

REWARD_PARAMETERS = 6
"""The composite reward's numbers, passed with every aggregate query: weights success, latency,
cost, error; bounds max latency (ms), max cost (USD)."""


def _scored(first: int) -> str:
    """The values the aggregates read, per row; the reward's parameters are ``$first`` ..
    ``$first + 5``. The reward is ``NodeRewardCompute``'s formula, clamped to [0, 1] (tests
    check the two agree). log(1 + duration) is kept for heavy-tailed diagnostics. Callers end
    the subquery with OFFSET 0, which keeps it from being pulled up into the aggregates: there
    each reference would compute its expression again (the reward and the log twice, the
    quality score three times), a tenth of the statement's time."""
    ws, wl, wc, we, max_ms, max_usd = (f"${first + k}::float8" for k in range(REWARD_PARAMETERS))
    return f"""
    SELECT coalesce(version_id, $2) AS vid, duration_ms, status, user_rating, cost_usd,
           (quality_results ->> 'score')::float8 AS q, ln(1 + duration_ms) AS log_d,
           greatest(0, least(1, 1 - {wl} * least(duration_ms / {max_ms}, 1)
               - {wc} * least(coalesce(cost_usd, 0) / {max_usd}, 1)
               - CASE WHEN status = 'success' THEN 0 ELSE {ws} + {we} END)) AS r
    FROM hook_executions
"""


_AGGREGATES = """
    count(*)::int AS n,
    count(*) FILTER (WHERE status = 'success')::int AS successes,
    count(*) FILTER (WHERE status = 'timeout')::int AS timeouts,
    avg(duration_ms) AS duration_mean,
    coalesce(var_samp(duration_ms), 0) AS duration_var,
    avg(log_d) AS log_duration_mean,
    coalesce(var_samp(log_d), 0) AS log_duration_var,
    percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY duration_ms) AS percentiles,
    count(q)::int AS quality_n,
    coalesce(avg(q), 0) AS quality_mean,
    coalesce(var_samp(q), 0) AS quality_var,
    count(user_rating)::int AS rating_n,
    coalesce(avg(user_rating), 0)::float8 AS rating_mean,
    coalesce(var_samp(user_rating), 0)::float8 AS rating_var,
    count(cost_usd)::int AS cost_n,
    coalesce(avg(cost_usd), 0)::float8 AS cost_mean,
    coalesce(var_samp(cost_usd), 0)::float8 AS cost_var,
    avg(r) AS reward_mean,
    coalesce(var_samp(r), 0) AS reward_var
"""
"""One row of summary statistics per version, over ``_scored`` rows."""


def window_start(as_of: str) -> str:
    """SQL for the analysis window's first instant: ``$4`` days before ``as_of`` (an SQL
    expression), from the whole UTC hour that falls in, so that buckets cover the window
    without raw rows at its start. Raw rows and buckets (``sql_buckets``) read this one rule.

    The expression is only stable (it reads the session's TimeZone), so the planner leaves
    the pruning of ``hook_executions``' day partitions to the executor, and a prepared
    statement settles on one generic plan. An immutable start (UTC timestamps) let the planner
    prune when it plans, which made a custom plan look cheaper on every call: the window-errors
    statement was then planned per look, and a run cost ~1.1 ms more server CPU
    (``bench/run_cost.py``, 5.27 against 4.10-4.13 ms, two runs each)."""
    return f"date_trunc('hour', {as_of} - make_interval(days => $4), 'UTC')"


# The analysis window: from window_start up to $3 inclusive.
_IN_WINDOW = (
    f"pattern_id = $1 AND started_at >= {window_start('$3::timestamptz')} AND started_at <= $3"
)

# The window's most frequent errors per version (at most 200 over all versions).
_ERRORS = f"""
    SELECT coalesce(version_id, $2) AS vid, error_message, count(*)::int AS count
    FROM hook_executions WHERE {_IN_WINDOW} AND error_message IS NOT NULL
    GROUP BY 1, 2 ORDER BY 1, 3 DESC, 2 LIMIT 200
"""

# Each version's statistics with its errors (counted once: MATERIALIZED) in one round trip.
_WINDOW_STATS = f"""
WITH w AS ({_scored(5)}
    WHERE {_IN_WINDOW} OFFSET 0),
errors AS MATERIALIZED ({_ERRORS})
SELECT vid AS version_id, {_AGGREGATES},
    ARRAY(SELECT ROW(e.error_message, e.count) FROM errors e WHERE e.vid = w.vid
          ORDER BY e.count DESC, e.error_message) AS errors
FROM w GROUP BY vid
"""

# An experiment starts with the candidate's first execution; the control is the active
# version's traffic from then on, so both arms cover the same period.
_EXPERIMENT_STATS = f"""
WITH arms AS ({_scored(6)}
    WHERE pattern_id = $1 AND version_id IN ($2, $3) AND started_at <= $4
      AND started_at >= greatest($5::timestamptz, (  -- a scalar subquery: evaluated once
          SELECT min(started_at) FROM hook_executions
          WHERE pattern_id = $1 AND version_id = $3 AND started_at <= $4))
    OFFSET 0)
SELECT vid AS version_id, {_AGGREGATES},
    percentile_disc(ARRAY[{", ".join(map(str, TAIL_FRACTIONS))}]::float8[])
        WITHIN GROUP (ORDER BY duration_ms) AS duration_tail
FROM arms GROUP BY vid
"""


def reward_arguments(reward: ModelRewardConfig) -> tuple[float, ...]:
    w, b = reward.weights, reward.bounds
    return (w.success, w.latency, w.cost, w.error, b.max_latency_ms, b.max_cost_usd)


async def window_stats(
    conn: asyncpg.Connection,
    pattern_id: str,
    active_version_id: str | None,
    end: datetime,
    days: int,
    reward: ModelRewardConfig,
) -> list[asyncpg.Record]:
    """Per-version aggregates of the window (unversioned rows count as active), each with its
    ``errors``: ``(error_message, count)`` pairs, most frequent first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _WINDOW_STATS, pattern_id, active_version_id, end, days, *reward_arguments(reward)
    )
    return rows


async def window_errors(
    conn: asyncpg.Connection,
    pattern_id: str,
    active_version_id: str | None,
    end: datetime,
    days: int,
) -> list[asyncpg.Record]:
    """The window's ``(vid, error_message, count)``, most frequent first per version."""
    rows: list[asyncpg.Record] = await conn.fetch(_ERRORS, pattern_id, active_version_id, end, days)
    return rows


async def experiment_stats(
    conn: asyncpg.Connection,
    pattern_id: str,
    control_id: str,
    candidate_id: str,
    end: datetime,
    reward: ModelRewardConfig,
    since: datetime | None = None,
) -> list[asyncpg.Record]:
    """Both arms from the candidate's first execution (or ``since``, when later) to ``end``."""
    rows: list[asyncpg.Record] = await conn.fetch(
        _EXPERIMENT_STATS,
        pattern_id,
        control_id,
        candidate_id,
        end,
        since,
        *reward_arguments(reward),
    )
    return rows


STAGING_TABLE = "ingest_staging"


async def create_ingest_staging(conn: asyncpg.Connection) -> None:
    """A transaction-local copy of the table's shape, for ingesting with duplicates skipped."""
    await conn.execute(
        f"CREATE TEMP TABLE {STAGING_TABLE} (LIKE hook_executions INCLUDING DEFAULTS) "
        "ON COMMIT DROP"
    )


async def copy_executions(conn: asyncpg.Connection, records: Any, *, staging: bool = False) -> None:
    """COPY rows (an iterable or async iterable of tuples in ``EXECUTION_COLUMNS`` order)."""
    await conn.copy_records_to_table(
        STAGING_TABLE if staging else "hook_executions",
        records=records,
        columns=EXECUTION_COLUMNS,
    )


async def insert_staged_skipping_duplicates(conn: asyncpg.Connection) -> int:
    """The staged rows whose ids are not stored yet (``execution_ids`` holds every stored id,
    across partitions); a concurrent writer of the same ids makes the insert fail on the key."""
    await conn.execute(
        f"DELETE FROM {STAGING_TABLE} s USING execution_ids e WHERE e.execution_id = s.execution_id"
    )
    status: str = await conn.execute(f"INSERT INTO hook_executions SELECT * FROM {STAGING_TABLE}")
    return int(status.split()[-1])


async def stored_execution_ids(
    conn: asyncpg.Connection, execution_ids: list[str], limit: int
) -> tuple[list[int], int]:
    """Positions (0-based, in batch order) of the first ``limit`` ids already stored, and how
    many are: ordered before the limit, so an error names the first lines of a file."""
    rows = await conn.fetch(
        "SELECT b.i - 1 AS position, count(*) OVER () AS total "
        "FROM unnest($1::uuid[]) WITH ORDINALITY AS b(id, i) "
        "JOIN execution_ids h ON h.execution_id = b.id ORDER BY b.i LIMIT $2",
        execution_ids,
        limit,
    )
    return [r["position"] for r in rows], (rows[0]["total"] if rows else 0)


async def known_references(
    conn: asyncpg.Connection, pattern_ids: list[str], version_ids: list[str]
) -> tuple[set[str], dict[str, str]]:
    """Which of ``pattern_ids`` have a registered version, and the pattern of each registered
    version in ``version_ids``: what ingestion checks rows against."""
    patterns = await conn.fetch(
        "SELECT DISTINCT pattern_id FROM pattern_versions WHERE pattern_id = ANY($1::text[])",
        pattern_ids,
    )
    versions = await conn.fetch(
        "SELECT version_id, pattern_id FROM pattern_versions WHERE version_id = ANY($1::text[])",
        version_ids,
    )
    return {r["pattern_id"] for r in patterns}, {r["version_id"]: r["pattern_id"] for r in versions}
