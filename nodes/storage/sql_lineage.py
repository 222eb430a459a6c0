"""All SQL of ``pattern_versions`` and ``lineage_edges``: parameterised, in one place.

Traversals use ``WITH RECURSIVE ... UNION`` (never ``UNION ALL``: on a DAG it revisits shared
ancestors once per path). With a depth limit the depth is part of the
row, so a node can appear once per depth; the cap keeps that bounded.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

VERSION_COLUMNS = (
    "version_id",
    "pattern_id",
    "version",
    "status",
    "config",
    "traffic_weight",
    "metrics",
    "correlation_id",
    "created_at",
)
EDGE_COLUMNS = ("parent_id", "child_id", "relation", "correlation_id", "created_at")
_SELECT_VERSIONS = f"SELECT {', '.join(VERSION_COLUMNS)} FROM pattern_versions"
_SEMVER_ORDER = "string_to_array(version, '.')::int[]"

INSERT_VERSION = (
    "INSERT INTO pattern_versions (version_id, pattern_id, version, status, config, "
    "traffic_weight, metrics, correlation_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
    "RETURNING created_at"
)
INSERT_EDGE = (
    "INSERT INTO lineage_edges (parent_id, child_id, relation, correlation_id) "
    "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING"
)


async def fetch_version(conn: asyncpg.Connection, version_id: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        f"{_SELECT_VERSIONS} WHERE version_id = $1", version_id
    )
    return row


async def active_version_id(conn: asyncpg.Connection, pattern_id: str) -> str | None:
    found: str | None = await conn.fetchval(
        "SELECT version_id FROM pattern_versions WHERE pattern_id = $1 AND status = 'active'",
        pattern_id,
    )
    return found


async def fetch_versions(conn: asyncpg.Connection, pattern_id: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"{_SELECT_VERSIONS} WHERE pattern_id = $1 ORDER BY {_SEMVER_ORDER}", pattern_id
    )
    return rows


_COMPONENT = (
    f"SELECT {', '.join(f'v.{c}' for c in VERSION_COLUMNS)}, "
    "ARRAY(SELECT ROW(e.parent_id, e.relation, e.correlation_id) FROM lineage_edges e "
    "WHERE e.child_id = v.version_id) AS parents "
    f"FROM pattern_versions v WHERE v.pattern_id = $1 ORDER BY {_SEMVER_ORDER}"
)


async def fetch_component(
    conn: asyncpg.Connection, pattern_id: str
) -> tuple[list[asyncpg.Record], list[tuple[str, str, str, Any]]]:
    """A pattern's versions (semver order) and every edge into them as ``(parent, child,
    relation, correlation_id)``: one statement, so one snapshot without a transaction (every
    run reloads its pattern: two reads in a read-only transaction cost four round trips)."""
    rows: list[asyncpg.Record] = await conn.fetch(_COMPONENT, pattern_id)
    edges = [(p, r["version_id"], rel, cid) for r in rows for p, rel, cid in r["parents"]]
    return rows, edges


_VERSIONS_WITH_OBJECTIVE = (
    f"SELECT {', '.join(VERSION_COLUMNS)}, (SELECT ROW(o.version, o.body) FROM objectives o "
    "WHERE o.pattern_id = $1 ORDER BY o.version DESC LIMIT 1) AS objective, now() AS read_at "
    f"FROM pattern_versions WHERE pattern_id = $1 ORDER BY {_SEMVER_ORDER}"
)


async def fetch_versions_with_objective(
    conn: asyncpg.Connection, pattern_id: str
) -> tuple[list[asyncpg.Record], tuple[int, dict[str, Any]] | None, datetime | None]:
    """``fetch_versions``, the newest stored objective's ``(version, body)`` (None: none
    stored, or no version) and the database's ``now()`` (None: no version) in one round trip:
    what every loop run reads first; a scheduled run's window ends at that instant."""
    rows: list[asyncpg.Record] = await conn.fetch(_VERSIONS_WITH_OBJECTIVE, pattern_id)
    if not rows:
        return rows, None, None
    stored = rows[0]["objective"]
    return rows, None if stored is None else (stored[0], stored[1]), rows[0]["read_at"]


async def fetch_all_versions(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(_SELECT_VERSIONS)
    return rows


async def fetch_all_edges(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT parent_id, child_id, relation, correlation_id FROM lineage_edges"
    )
    return rows


async def pattern_ids(conn: asyncpg.Connection) -> list[str]:
    rows = await conn.fetch("SELECT DISTINCT pattern_id FROM pattern_versions ORDER BY 1")
    return [r["pattern_id"] for r in rows]


async def max_version(conn: asyncpg.Connection, pattern_id: str) -> str | None:
    version: str | None = await conn.fetchval(
        f"SELECT version FROM pattern_versions WHERE pattern_id = $1 "
        f"ORDER BY {_SEMVER_ORDER} DESC LIMIT 1",
        pattern_id,
    )
    return version


async def update_metrics(conn: asyncpg.Connection, metrics: dict[str, Any]) -> set[str]:
    """Each version's metrics (``{version_id: metrics}``) in one statement; returns the ids
    updated (an unknown id is not). The rows are found by key (``= ANY``: an index scan);
    joined with ``jsonb_each`` instead, the cached plan scanned the whole table every run."""
    rows = await conn.fetch(
        "UPDATE pattern_versions v SET metrics = $2::jsonb -> v.version_id, updated_at = now() "
        "WHERE v.version_id = ANY($1::text[]) RETURNING v.version_id",
        list(metrics),
        metrics,
    )
    return {r["version_id"] for r in rows}


async def update_version(
    conn: asyncpg.Connection, version_id: str, column: str, value: Any
) -> bool:
    if column not in ("status", "traffic_weight"):
        raise ValueError(f"pattern_versions.{column} is immutable")
    result: str = await conn.execute(
        f"UPDATE pattern_versions SET {column} = $2, updated_at = now() WHERE version_id = $1",
        version_id,
        value,
    )
    return result == "UPDATE 1"


def _walk_sql(*, up: bool, by_depth: bool) -> str:
    start, step = ("parent_id", "child_id") if up else ("child_id", "parent_id")
    relation = "($2::text[] IS NULL OR e.relation = ANY($2::text[]))"
    if not by_depth:
        return (
            f"WITH RECURSIVE walk(id) AS ("
            f" SELECT e.{start} FROM lineage_edges e WHERE e.{step} = $1 AND {relation}"
            f" UNION"
            f" SELECT e.{start} FROM lineage_edges e JOIN walk w ON e.{step} = w.id"
            f" WHERE {relation}"
            f") SELECT id FROM walk"
        )
    return (
        f"WITH RECURSIVE walk(id, depth) AS ("
        f" SELECT e.{start}, 1 FROM lineage_edges e WHERE e.{step} = $1 AND {relation}"
        f" UNION"
        f" SELECT e.{start}, w.depth + 1 FROM lineage_edges e JOIN walk w ON e.{step} = w.id"
        f" WHERE w.depth < $3::int AND {relation}"
        f") SELECT DISTINCT id FROM walk"
    )


_WALKS = {
    (up, depth): _walk_sql(up=up, by_depth=depth) for up in (True, False) for depth in (True, False)
}


async def walk(
    conn: asyncpg.Connection,
    version_id: str,
    *,
    up: bool,
    relations: Sequence[str] | None,
    max_depth: int | None,
) -> set[str]:
    """Ancestors (``up``) or descendants of a version without loading the graph."""
    rels = list(relations) if relations is not None else None
    if max_depth is None:
        rows = await conn.fetch(_WALKS[(up, False)], version_id, rels)
    elif max_depth <= 0:
        return set()
    else:
        rows = await conn.fetch(_WALKS[(up, True)], version_id, rels, max_depth)
    return {r["id"] for r in rows}


async def reaches(conn: asyncpg.Connection, start_id: str, target_id: str) -> bool:
    """Whether ``target_id`` is ``start_id`` or one of its descendants (the cycle check)."""
    found: bool = await conn.fetchval(
        "WITH RECURSIVE down(id) AS (SELECT $1::text UNION "
        "SELECT e.child_id FROM lineage_edges e JOIN down d ON e.parent_id = d.id) "
        "SELECT EXISTS (SELECT 1 FROM down WHERE id = $2)",
        start_id,
        target_id,
    )
    return found
