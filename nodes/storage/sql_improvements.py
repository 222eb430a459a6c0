"""All SQL on ``improvements``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.enum_loop import EnumImprovementStatus
from contracts.model_pattern_improvement import ModelPatternImprovement

_COLUMNS = (
    "improvement_id, pattern_id, base_version_id, candidate_version_id, generator, "
    "improvement_type, description, config_diff, expected_delta, risk, status, p_value, "
    "confidence, performance_delta, decision_reason, correlation_id, srm_epoch_at, watch_from, "
    "watch_until, watch_outcome"
)


_PLACEHOLDERS = ", ".join(f"${i}" for i in range(1, _COLUMNS.count(",") + 2))


def _to_model(row: asyncpg.Record) -> ModelPatternImprovement:
    return ModelPatternImprovement.model_validate(dict(row))


async def insert_improvement(conn: asyncpg.Connection, item: ModelPatternImprovement) -> None:
    data = item.model_dump(mode="json")
    await conn.execute(
        f"INSERT INTO improvements ({_COLUMNS}) VALUES ({_PLACEHOLDERS})",
        item.improvement_id,
        item.pattern_id,
        item.base_version_id,
        item.candidate_version_id,
        item.generator,
        data["improvement_type"],
        item.description,
        data["config_diff"],
        item.expected_delta,
        data["risk"],
        data["status"],
        item.p_value,
        item.confidence,
        item.performance_delta,
        item.decision_reason,
        item.correlation_id,
        item.srm_epoch_at,
        item.watch_from,
        item.watch_until,
        item.watch_outcome,
    )


async def get_improvement(
    conn: asyncpg.Connection, improvement_id: UUID, *, for_update: bool = False
) -> ModelPatternImprovement | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM improvements WHERE improvement_id = $1{lock}", improvement_id
    )
    return _to_model(row) if row else None


async def list_improvements(
    conn: asyncpg.Connection,
    pattern_id: str | None,
    statuses: Sequence[EnumImprovementStatus] | None = None,
) -> list[ModelPatternImprovement]:
    """``pattern_id=None``: every pattern's."""
    wanted = [s.value for s in statuses] if statuses else None
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM improvements WHERE ($1::text IS NULL OR pattern_id = $1) "
        "AND ($2::text[] IS NULL OR status = ANY($2::text[])) ORDER BY created_at, improvement_id",
        pattern_id,
        wanted,
    )
    return [_to_model(r) for r in rows]


_OPEN = (
    "(status IN ('testing', 'validated', 'blocked') "
    "OR (status = 'applied' AND watch_until IS NOT NULL AND watch_outcome IS NULL))"
)
"""Improvements the lifecycle may still change: undecided, or applied and still watched."""


async def open_improvements(
    conn: asyncpg.Connection, pattern_id: str
) -> list[ModelPatternImprovement]:
    """The pattern's open improvements (in ``list_improvements``' order): a run measures those
    in testing and those watched, and hands all of them to the lifecycle as its state."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM improvements WHERE pattern_id = $1 AND {_OPEN} "
        "ORDER BY created_at, improvement_id",
        pattern_id,
    )
    return [_to_model(r) for r in rows]


_UPDATE = (
    "UPDATE improvements SET status = $2, p_value = coalesce($3, p_value), "
    "confidence = coalesce($4, confidence), "
    "performance_delta = coalesce($5, performance_delta), "
    "decision_reason = coalesce($6, decision_reason), "
    "correlation_id = coalesce($7, correlation_id), updated_at = now(), "
    "srm_epoch_at = CASE WHEN $8 THEN now() ELSE srm_epoch_at END, "
    "watch_until = CASE WHEN $9::int IS NULL THEN watch_until "
    "ELSE coalesce($11, now()) + make_interval(days => $9::int) END, "
    "watch_outcome = coalesce($10, watch_outcome), "
    "watch_from = CASE WHEN $9::int IS NULL THEN watch_from ELSE coalesce($11, now()) END "
    "WHERE improvement_id = $1"
)
# The look's evidence with the update, in one statement (a data-modifying CTE always runs):
# every decided look writes both, and a round trip each was a tenth of a run's.
_UPDATE_WITH_LOOK = (
    f"WITH updated AS ({_UPDATE} RETURNING 1) "
    "INSERT INTO improvement_looks (improvement_id, look, correlation_id, decision, evidence) "
    "SELECT $1, coalesce(max(look), 0) + 1, $7, $12, $13 FROM improvement_looks "
    "WHERE improvement_id = $1"
)


async def update_improvement(
    conn: asyncpg.Connection,
    improvement_id: UUID,
    *,
    status: EnumImprovementStatus,
    p_value: float | None = None,
    confidence: float | None = None,
    performance_delta: float | None = None,
    decision_reason: str | None = None,
    correlation_id: UUID | None = None,
    new_check_epoch: bool = False,
    watch_days: int | None = None,
    watch_outcome: str | None = None,
    watch_from: datetime | None = None,
    look: tuple[str, dict[str, Any]] | None = None,
) -> None:
    """Record a look's numbers; ``None`` keeps what was stored. ``look``: its decision and
    evidence, stored as the improvement's next look (call under the pattern's lock: one
    writer numbers the looks)."""
    values: tuple[Any, ...] = (
        improvement_id,
        status.value,
        p_value,
        confidence,
        performance_delta,
        decision_reason,
        correlation_id,
        new_check_epoch,
        watch_days,
        watch_outcome,
        watch_from,
    )
    if look is None:
        await conn.execute(_UPDATE, *values)
    else:
        await conn.execute(_UPDATE_WITH_LOOK, *values, *look)


async def lock_for_lifecycle(
    conn: asyncpg.Connection, pattern_id: str, improvement_ids: Sequence[UUID]
) -> list[ModelPatternImprovement]:
    """The pattern's open improvements plus the named ones (whatever their status), locked for
    the transaction that changes them."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM improvements WHERE pattern_id = $1 "
        f"AND ({_OPEN} OR improvement_id = ANY($2::uuid[])) "
        "ORDER BY created_at, improvement_id FOR UPDATE",
        pattern_id,
        list(improvement_ids),
    )
    return [_to_model(r) for r in rows]


async def list_looks(conn: asyncpg.Connection, improvement_id: UUID) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT look, at, correlation_id, decision, evidence FROM improvement_looks "
        "WHERE improvement_id = $1 ORDER BY look",
        improvement_id,
    )
    return rows
