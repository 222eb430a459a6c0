"""A pattern's objective, stored as versions: every change is a new row plus an audit row (and,
when the reward changed, the buckets' reward sums rebuilt) in one transaction, under the
pattern's lock. A pattern without a stored objective has the
defaults (``ModelObjective(pattern_id=...)``), so nothing needs configuring to start."""

from __future__ import annotations

from typing import Any

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_objective import ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput, ModelObjectiveSetOutput
from contracts.model_onex_error import ModelOnexError
from nodes.storage import sql_buckets, sql_lineage, sql_objectives
from nodes.storage.locks import lock_pattern_for_transaction
from nodes.storage.sql_audit import write_audit

_UNVERSIONED = {"pattern_id", "version"}


def _stored(row: asyncpg.Record | None) -> tuple[int, dict[str, Any]] | None:
    return None if row is None else (row["version"], row["body"])


class NodeObjectiveStoreEffect:
    @staticmethod
    def from_stored(pattern_id: str, stored: tuple[int, dict[str, Any]] | None) -> ModelObjective:
        """The objective a stored ``(version, body)`` says, else the defaults (version 1, not
        stored); the collector reads it with the versions in one statement."""
        if stored is None:
            return ModelObjective(pattern_id=pattern_id)
        version, body = stored
        return ModelObjective.model_validate({**body, "pattern_id": pattern_id, "version": version})

    async def get(self, conn: asyncpg.Connection, pattern_id: str) -> ModelObjective:
        """The newest stored version, else the defaults (version 1, not stored)."""
        return self.from_stored(pattern_id, _stored(await sql_objectives.latest(conn, pattern_id)))

    async def history(self, conn: asyncpg.Connection, pattern_id: str) -> list[ModelObjective]:
        rows = await sql_objectives.history(conn, pattern_id)
        return [self.from_stored(pattern_id, _stored(r)) for r in rows]

    async def set(
        self, conn: asyncpg.Connection, contract: ModelObjectiveSetInput
    ) -> ModelObjectiveSetOutput:
        pattern_id = contract.objective.pattern_id
        body = contract.objective.model_dump(mode="json", exclude=_UNVERSIONED)
        async with conn.transaction():
            await lock_pattern_for_transaction(conn, pattern_id)
            if not await sql_lineage.fetch_versions(conn, pattern_id):
                raise ModelOnexError(
                    EnumErrorCode.NOT_FOUND, f"no pattern {pattern_id!r}: register it first"
                )
            current = await sql_objectives.latest(conn, pattern_id)
            before = self.from_stored(pattern_id, _stored(current))
            if before.model_dump(mode="json", exclude=_UNVERSIONED) == body:
                return ModelObjectiveSetOutput(objective=before, changed=False)
            version = await sql_objectives.insert_next(conn, pattern_id, body, contract.actor)
            # The buckets' reward sums follow the objective's reward, in this transaction.
            await sql_buckets.set_reward_params(conn, pattern_id, contract.objective.reward)
            await write_audit(
                conn,
                actor=contract.actor,
                action="objective",
                pattern_id=pattern_id,
                reason=contract.reason,
                details={"version": version, **body},
            )
        stored = contract.objective.model_copy(update={"version": version})
        return ModelObjectiveSetOutput(objective=stored, changed=True)
