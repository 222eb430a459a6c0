"""All SQL on the exposure tables: batched writes from assign(), per-arm counts for the checks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

EXPOSURE_BUCKET_S = 60
"""Width of a calls bucket. Checks read only buckets that closed, so a bucket still filling (or
a buffer not yet flushed) never looks like missing exposures."""


async def write_batch(
    conn: asyncpg.Connection,
    units: Sequence[tuple[str, int, int, str, datetime]],
    calls: Sequence[tuple[str, str, datetime, int]],
) -> None:
    """One transaction: first exposures (a unit already counted under that split is skipped)
    and call counts added to their buckets."""
    async with conn.transaction():
        if units:
            await conn.execute(
                "INSERT INTO exposure_units (pattern_id, allocation, unit_hash, version_id, "
                "first_at) SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], "
                "$4::text[], $5::timestamptz[]) ON CONFLICT DO NOTHING",
                *(list(column) for column in zip(*units, strict=True)),
            )
        if calls:
            await conn.execute(
                "INSERT INTO exposure_calls (pattern_id, version_id, bucket_start, calls) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::bigint[]) "
                "ON CONFLICT (pattern_id, version_id, bucket_start) "
                "DO UPDATE SET calls = exposure_calls.calls + EXCLUDED.calls",
                *(list(column) for column in zip(*calls, strict=True)),
            )


async def experiment_window(
    conn: asyncpg.Connection,
    pattern_id: str,
    allocation: int,
    control_id: str,
    candidate_id: str,
    epoch_at: datetime | None,
    until: datetime,
) -> list[asyncpg.Record]:
    """Control and candidate over the closed exposure window: from the candidate's first
    exposure under the current split (or the last acknowledged flag, whichever is later),
    rounded up to a bucket, to ``until`` rounded down. Per arm: distinct units first exposed
    under ``allocation``, assign calls, and logged executions in that window. No candidate
    exposure yet: no rows."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        WITH w AS (
            SELECT to_timestamp(ceil(extract(epoch FROM greatest(min(first_at), $5::timestamptz))
                                     / $7) * $7) AS since,
                   to_timestamp(floor(extract(epoch FROM $6::timestamptz) / $7) * $7) AS until
            FROM exposure_units
            WHERE pattern_id = $1 AND allocation = $2 AND version_id = $4
        )
        SELECT v.version_id, w.since, w.until,
            (SELECT count(*) FROM exposure_units u
             WHERE u.pattern_id = $1 AND u.allocation = $2 AND u.version_id = v.version_id
               AND u.first_at >= w.since AND u.first_at < w.until) AS units,
            (SELECT coalesce(sum(c.calls), 0) FROM exposure_calls c
             WHERE c.pattern_id = $1 AND c.version_id = v.version_id
               AND c.bucket_start >= w.since AND c.bucket_start < w.until)::bigint AS calls,
            (SELECT count(*) FROM hook_executions e
             WHERE e.pattern_id = $1 AND e.version_id = v.version_id
               AND e.started_at >= w.since AND e.started_at < w.until) AS executions
        FROM w, unnest(ARRAY[$3, $4]::text[]) AS v(version_id)
        WHERE w.since < w.until
        """,
        pattern_id,
        allocation,
        control_id,
        candidate_id,
        epoch_at,
        until,
        float(EXPOSURE_BUCKET_S),
    )
    return rows
