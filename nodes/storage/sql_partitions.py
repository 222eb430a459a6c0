"""All SQL on the partitions of ``hook_executions``, its retention settings and its buckets'
upkeep: creating days ahead, the horizon rows must not be older than, and dropping a day."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

PARTITION_PREFIX = "hook_executions_p"
DAYS_AHEAD = 7
"""Partitions exist this many days ahead of now, so a writer (ours or a user's hook) always
finds one for a row it may store."""


async def prepare_partitions(conn: asyncpg.Connection) -> Horizon:
    """Create any missing day partition from the horizon to ``DAYS_AHEAD`` days ahead; returns
    the horizon. Its own transaction: creating a partition locks the parent table, which must
    not last as long as the caller's work."""
    return _horizon_of(
        await conn.fetchrow(
            "SELECT feedback_prepare_execution_partitions(now() + make_interval(days => $1)) "
            "AS horizon, retention_days, kept_from FROM execution_retention",
            DAYS_AHEAD,
        )
    )


async def horizon(conn: asyncpg.Connection) -> Horizon:
    return _horizon_of(await retention_settings(conn))


@dataclass(frozen=True)
class Horizon:
    """The earliest ``started_at`` a new row may have, and why, in words for an error."""

    at: datetime
    reason: str


def _horizon_of(row: asyncpg.Record) -> Horizon:
    kept_from = row["kept_from"]
    if kept_from is not None and kept_from >= row["horizon"]:
        reason = f"the oldest kept day starts {kept_from.date().isoformat()}"
    else:
        reason = f"executions are kept {row['retention_days']} days"
    return Horizon(row["horizon"], reason)


async def retention_settings(conn: asyncpg.Connection, days: int | None = None) -> asyncpg.Record:
    """``retention_days``, ``kept_from`` (NULL until retention dropped a partition) and the
    ``horizon``: the current one, or the one ``days`` of retention would give."""
    row: asyncpg.Record = await conn.fetchrow(
        "SELECT retention_days, kept_from, feedback_execution_horizon($1) AS horizon "
        "FROM execution_retention",
        days,
    )
    return row


async def set_retention_days(conn: asyncpg.Connection, days: int) -> None:
    await conn.execute("UPDATE execution_retention SET retention_days = $1", days)


async def day_partitions(conn: asyncpg.Connection) -> list[date]:
    """The UTC days that have a partition, oldest first (from the partitions' names, which
    only ``feedback_prepare_execution_partitions`` and the migration create)."""
    rows = await conn.fetch(
        "SELECT substr(c.relname, length($1) + 1) AS day FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'hook_executions'::regclass AND c.relname LIKE $1 || '%' "
        "ORDER BY 1",
        PARTITION_PREFIX,
    )
    return [datetime.strptime(r["day"], "%Y%m%d").date() for r in rows]


async def experiments_need_from(conn: asyncpg.Connection) -> datetime | None:
    """The earliest time whose executions a running experiment or a watch after an apply may
    still read: an experiment from its improvement's creation (its candidate's first execution
    comes later), a watch from its ``watch_from``."""
    value: datetime | None = await conn.fetchval(
        "SELECT min(CASE WHEN status = 'testing' THEN created_at ELSE watch_from END) "
        "FROM improvements WHERE status = 'testing' "
        "OR (status = 'applied' AND watch_until IS NOT NULL AND watch_outcome IS NULL)"
    )
    return value


def _partition_name(day: date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


_DAY_BOUNDS = (
    "$1::date::timestamp AT TIME ZONE 'UTC'",
    "($1::date + 1)::timestamp AT TIME ZONE 'UTC'",
)

# A day's hour buckets merged into one 'day' bucket per pattern and version; the reward sums
# stay NULL if any hour's are. A day is rolled up once, in the transaction that drops it.
_ROLL_UP_DAY = f"""
WITH hours AS MATERIALIZED (
    DELETE FROM execution_buckets
    WHERE width = 'hour' AND bucket_start >= {_DAY_BOUNDS[0]} AND bucket_start < {_DAY_BOUNDS[1]}
    RETURNING *),
bins AS (
    SELECT pattern_id, version_id, array_agg(bin ORDER BY bin) AS duration_bins,
           array_agg(c ORDER BY bin) AS duration_counts
    FROM (SELECT pattern_id, version_id, e.bin, sum(e.count)::bigint AS c
          FROM hours, unnest(duration_bins, duration_counts) AS e (bin, count)
          GROUP BY 1, 2, 3) AS per_bin
    GROUP BY 1, 2)
INSERT INTO execution_buckets
SELECT h.pattern_id, h.version_id, 'day', {_DAY_BOUNDS[0]}, sum(n), sum(successes),
       sum(timeouts), min(first_at), max(last_at), sum(duration_sum), sum(duration_sq),
       sum(log_duration_sum), sum(log_duration_sq), sum(quality_n), sum(quality_sum),
       sum(quality_sq), sum(rating_n), sum(rating_sum), sum(rating_sq), sum(cost_n),
       sum(cost_sum), sum(cost_sq),
       CASE WHEN count(reward_sum) = count(*) THEN sum(reward_sum) END,
       CASE WHEN count(reward_sq) = count(*) THEN sum(reward_sq) END,
       x.duration_bins, x.duration_counts
FROM hours h JOIN bins x USING (pattern_id, version_id)
GROUP BY 1, 2, x.duration_bins, x.duration_counts
"""


async def day_counts(conn: asyncpg.Connection, day: date) -> tuple[int, int]:
    """Rows in the day's partition, and rows its hour buckets count: equal when the day is
    fully aggregated."""
    row = await conn.fetchrow(
        f"SELECT (SELECT count(*) FROM {_partition_name(day)}) AS stored, "
        "(SELECT coalesce(sum(n), 0) FROM execution_buckets WHERE width = 'hour' "
        f"AND bucket_start >= {_DAY_BOUNDS[0]} AND bucket_start < {_DAY_BOUNDS[1]}) AS counted",
        day,
    )
    return int(row["stored"]), int(row["counted"])


async def drop_day(conn: asyncpg.Connection, day: date) -> None:
    """Roll the day's hour buckets up, forget its ids, drop its partition and move
    ``kept_from`` past it; the caller holds the transaction that makes this one step."""
    await conn.execute(_ROLL_UP_DAY, day)
    await conn.execute(
        f"DELETE FROM execution_ids WHERE started_at >= {_DAY_BOUNDS[0]} "
        f"AND started_at < {_DAY_BOUNDS[1]}",
        day,
    )
    await conn.execute(f"DROP TABLE {_partition_name(day)}")
    await conn.execute(
        f"UPDATE execution_retention SET kept_from = greatest(kept_from, {_DAY_BOUNDS[1]})", day
    )
