"""All SQL on ``execution_buckets`` and ``execution_reward_params``: a span's statistics read
from its whole hours' buckets plus its partial hours' raw rows, trends, and the reward the
buckets' reward sums use.

A span [start, stop) is read as: the buckets (hour, or day once retention has rolled a day up)
that lie wholly inside it, and the two partial hours at its ends per version: from the hour's
bucket when all of its rows lie in the span (its ``first_at`` and ``last_at`` say so, as for the
current hour up to now), else from raw rows of that version and the part of the hour inside the
span (the control's rows before an experiment began, say). An experiment's first hour, once
over, is read raw once and kept split at the experiment's start (``execution_bucket_splits``),
reused while the hour's bucket keeps its count and reward sum. The raw parts are bucketed by the
same definition as stored buckets (``feedback_raw_buckets``), so every part has one shape and
adds up the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg

from contracts.model_pattern_feedback import BUCKET_SUMS
from contracts.model_reward import ModelRewardConfig
from nodes.storage.sql_executions import reward_arguments, window_start

BUCKET_COLUMNS = ("version_id", "bucket_start", "first_at", "last_at", *BUCKET_SUMS)
_SELECTED = (
    ", ".join(f"b.{c}" for c in BUCKET_COLUMNS)
    + ", array_send(b.duration_bins) AS bins, array_send(b.duration_counts) AS counts"
)
"""A bucket's sums, and its histogram: two aligned arrays, bins and their counts, in their
binary form (``array_send``), which numpy reads as it is (``bucket_stats.histogram_of``). As
lists of Python ints, the driver's decoding, a week of hour buckets with thousands of bins
each cost about 25 ms of client CPU per look."""

_REWARD_PARAMS = (
    "(SELECT ARRAY[w_success, w_latency, w_cost, w_error, max_latency_ms, max_cost_usd] "
    "FROM execution_reward_params WHERE pattern_id = $1) AS reward_params"
)
"""The pattern's stored reward parameters, on every row read, for the caller to check."""


def _span_query(start: str, *, keep_splits: bool) -> str:
    """The span's parts for pattern $1, versions $2 (NULL: all), up to $3 (exclusive), from
    ``start`` (an SQL expression over the parameters; NULL reads nothing). Each row also
    carries the pattern's stored reward parameters, for the caller to check.

    ``keep_splits``: the span starts at a fixed instant (an experiment's), so the part of its
    first hour from that instant on is kept once the hour is over, and reused while the hour's
    bucket is unchanged (``execution_bucket_splits``)."""
    split = (
        "NOT inside AND part_from > (bucket).bucket_start "
        "AND part_to = (bucket).bucket_start + interval '1 hour'"
        if keep_splits
        else "false"
    )
    keep = (
        """,
kept_now AS (
    INSERT INTO execution_bucket_splits AS s
        (pattern_id, version_id, bucket_start, split_at, bucket_n, bucket_reward_sum, part)
    SELECT $1, r.version_id, (r.bucket).bucket_start, r.part_from, (r.bucket).n,
           (r.bucket).reward_sum, r.part
    FROM raw r WHERE r.split
    ON CONFLICT (pattern_id, version_id, width, bucket_start, split_at) DO UPDATE SET
        bucket_n = excluded.bucket_n, bucket_reward_sum = excluded.bucket_reward_sum,
        part = excluded.part)"""
        if keep_splits
        else ""
    )
    return f"""
WITH span AS MATERIALIZED (
    SELECT s.start, s.stop,
           date_trunc('hour', s.start, 'UTC') + interval '1 hour' AS full_from,
           date_trunc('hour', s.stop, 'UTC') AS full_to
    FROM (SELECT {start} AS start, $3::timestamptz AS stop) AS s WHERE s.start IS NOT NULL),
hour_edges AS (
    SELECT b AS bucket, b.version_id, b.first_at >= span.start AND b.last_at < span.stop AS inside,
           greatest(span.start, b.bucket_start) AS part_from,
           least(span.stop, b.bucket_start + interval '1 hour') AS part_to
    FROM span, execution_buckets b
    WHERE b.pattern_id = $1 AND ($2::text[] IS NULL OR b.version_id = ANY($2::text[]))
      AND b.width = 'hour'
      AND b.bucket_start = ANY(ARRAY[span.full_from - interval '1 hour', span.full_to])
      AND b.bucket_start < span.stop AND b.bucket_start + interval '1 hour' > span.start),
edges AS (SELECT e.*, {split} AS split FROM hour_edges e),
kept AS (
    SELECT e.version_id, e.part_from, s.part FROM edges e
    JOIN execution_bucket_splits s
      ON s.pattern_id = $1 AND s.version_id = e.version_id AND s.width = 'hour'
     AND s.bucket_start = (e.bucket).bucket_start AND s.split_at = e.part_from
     AND s.bucket_n = (e.bucket).n
     AND s.bucket_reward_sum IS NOT DISTINCT FROM (e.bucket).reward_sum
    WHERE e.split),
unread AS MATERIALIZED (
    SELECT e.* FROM edges e
    WHERE NOT e.inside AND NOT EXISTS (
        SELECT FROM kept k WHERE k.version_id = e.version_id AND k.part_from = e.part_from)),
raw AS (
    SELECT e.version_id, e.bucket, e.part_from, e.split, r AS part FROM unread e,
        feedback_raw_buckets($1, ARRAY[e.version_id], e.part_from, e.part_to) r){keep},
parts AS (
    SELECT b.* FROM span, execution_buckets b
    WHERE b.pattern_id = $1 AND ($2::text[] IS NULL OR b.version_id = ANY($2::text[]))
      AND b.bucket_start >= span.full_from
      AND b.bucket_start + CASE b.width WHEN 'hour' THEN interval '1 hour'
                                        ELSE interval '1 day' END <= span.full_to
    UNION ALL
    SELECT (e.bucket).* FROM edges e WHERE e.inside
    UNION ALL
    SELECT (k.part).* FROM kept k
    UNION ALL
    SELECT (r.part).* FROM raw r)
SELECT {_SELECTED}, {_REWARD_PARAMS}
FROM parts b
"""


# An experiment's arms from the candidate's first execution ($4: the candidate; $5: a later
# start, or NULL), as the raw query in sql_executions reads them.
_EXPERIMENT_SPAN = _span_query(
    "greatest($5::timestamptz, (SELECT min(first_at) FROM execution_buckets "
    "WHERE pattern_id = $1 AND version_id = $4 AND first_at < $3))",
    keep_splits=True,
)
# A window of $4 days up to $3 (exclusive; the collector passes as_of plus a microsecond),
# starting on the whole UTC hour: [hour of (as_of - days), as_of], as the raw-row window reads.
# A start inside an hour would read that hour's rows after it raw at every look (the window
# moves, so nothing can be kept): with a steady stream, half an hour's rows on average.
_WINDOW_SPAN = _span_query(
    window_start("($3::timestamptz - interval '1 microsecond')"), keep_splits=False
)


async def experiment_parts(
    conn: asyncpg.Connection,
    pattern_id: str,
    control_id: str,
    candidate_id: str,
    stop: datetime,
    since: datetime | None,
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        _EXPERIMENT_SPAN, pattern_id, [control_id, candidate_id], stop, candidate_id, since
    )
    return rows


async def window_parts(
    conn: asyncpg.Connection, pattern_id: str, stop: datetime, days: int
) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_WINDOW_SPAN, pattern_id, None, stop, days)
    return rows


async def trend_buckets(
    conn: asyncpg.Connection, pattern_id: str, start: datetime, stop: datetime
) -> list[asyncpg.Record]:
    """The pattern's stored buckets (hour and day) that start in [start, stop), oldest first."""
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT b.width, {_SELECTED}, {_REWARD_PARAMS} FROM execution_buckets b "
        "WHERE b.pattern_id = $1 AND b.bucket_start >= $2 AND b.bucket_start < $3 "
        "ORDER BY b.bucket_start, b.version_id",
        pattern_id,
        start,
        stop,
    )
    return rows


# The pattern's reward parameters, and its hour buckets' reward sums rebuilt from its raw rows
# when they changed; day buckets (whose rows are gone) lose theirs.
_SET_REWARD_PARAMS = """
INSERT INTO execution_reward_params AS p
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (pattern_id) DO UPDATE SET
    w_success = excluded.w_success, w_latency = excluded.w_latency, w_cost = excluded.w_cost,
    w_error = excluded.w_error, max_latency_ms = excluded.max_latency_ms,
    max_cost_usd = excluded.max_cost_usd
WHERE (p.w_success, p.w_latency, p.w_cost, p.w_error, p.max_latency_ms, p.max_cost_usd)
    IS DISTINCT FROM (excluded.w_success, excluded.w_latency, excluded.w_cost, excluded.w_error,
                      excluded.max_latency_ms, excluded.max_cost_usd)
RETURNING 1
"""
_REBUILD_REWARD_SUMS = """
WITH raw AS (
    SELECT version_id, bucket_start, reward_sum, reward_sq
    FROM feedback_raw_buckets($1, NULL, '-infinity', 'infinity'))
UPDATE execution_buckets b
SET reward_sum = raw.reward_sum, reward_sq = raw.reward_sq
FROM raw
WHERE b.pattern_id = $1 AND b.width = 'hour' AND b.version_id = raw.version_id
  AND b.bucket_start = raw.bucket_start
"""


async def set_reward_params(
    conn: asyncpg.Connection, pattern_id: str, reward: ModelRewardConfig
) -> bool:
    """Store the reward the pattern's buckets sum; True when it changed (and the sums were
    rebuilt). In the caller's transaction: the change and the rebuild are one step, and
    ingest statements lock the row, so none adds sums of the old reward after it."""
    changed = await conn.fetchval(_SET_REWARD_PARAMS, pattern_id, *reward_arguments(reward))
    if changed is None:
        return False
    await conn.execute(_REBUILD_REWARD_SUMS, pattern_id)
    await conn.execute(
        "UPDATE execution_buckets SET reward_sum = NULL, reward_sq = NULL "
        "WHERE pattern_id = $1 AND width = 'day'",
        pattern_id,
    )
    return True


async def stored_reward_params(conn: asyncpg.Connection) -> dict[str, tuple[float, ...]]:
    """Every pattern's stored reward parameters, in ``reward_arguments``' order."""
    rows = await conn.fetch(
        "SELECT pattern_id, w_success, w_latency, w_cost, w_error, max_latency_ms, max_cost_usd "
        "FROM execution_reward_params"
    )
    return {r["pattern_id"]: tuple(r.values())[1:] for r in rows}


def reward_params_match(stored: Sequence[float] | None, reward: ModelRewardConfig) -> bool:
    """Whether stored reward parameters (a part's ``reward_params``, or one pattern's of
    ``stored_reward_params``) are the reward the caller scores with."""
    return stored is not None and tuple(stored) == reward_arguments(reward)


def sums_reward(part: Mapping[str, Any], reward: ModelRewardConfig) -> bool:
    """Whether a part's reward sums are there and were made with ``reward``."""
    return part["reward_sum"] is not None and reward_params_match(part["reward_params"], reward)
