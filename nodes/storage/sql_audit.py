"""The one place that writes ``audit_log``: who did what to which version, when, and why."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from contracts.model_improvement_lifecycle import AuditAction


async def write_audit(
    conn: asyncpg.Connection,
    *,
    actor: str,
    action: AuditAction,
    pattern_id: str,
    reason: str,
    version_id: str | None = None,
    improvement_id: UUID | None = None,
    correlation_id: UUID | None = None,
    details: dict[str, Any] | None = None,
) -> int:
    """Call inside the transaction of the change it records, so both land or neither does."""
    audit_id: int = await conn.fetchval(
        "INSERT INTO audit_log (actor, action, pattern_id, version_id, improvement_id, "
        "correlation_id, reason, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
        "RETURNING audit_id",
        actor,
        action,
        pattern_id,
        version_id,
        improvement_id,
        correlation_id,
        reason,
        details or {},
    )
    return audit_id
