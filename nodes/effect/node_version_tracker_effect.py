"""Track: each version's metric snapshot and the run record, in one transaction."""

from __future__ import annotations

import asyncpg

from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_pattern_feedback import ModelArmStats
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage import sql_loop_runs

_SNAPSHOT_FIELDS = (
    "n",
    "successes",
    "timeouts",
    "duration_mean",
    "duration_p50",
    "duration_p95",
    "duration_p99",
    "quality_n",
    "quality_mean",
    "rating_n",
    "rating_mean",
)


class NodeVersionTrackerEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect) -> None:
        self._lineage = lineage_store

    async def track(
        self, conn: asyncpg.Connection, stats: list[ModelArmStats], output: ModelFeedbackLoopOutput
    ) -> None:
        known = {v.version_id for v in await self._lineage.list_versions(conn, output.pattern_id)}
        async with conn.transaction():
            for arm in stats:
                if arm.version_id in known:
                    snapshot = {
                        **arm.model_dump(include=set(_SNAPSHOT_FIELDS)),
                        "success_rate": arm.success_rate,
                        "window_end_run": str(output.correlation_id),
                    }
                    await self._lineage.update_metrics(conn, arm.version_id, snapshot)
            await sql_loop_runs.finish_run(
                conn,
                output.correlation_id,
                succeeded=True,
                stages={k: v.model_dump(mode="json") for k, v in output.workflow_stages.items()},
                output=output.model_dump(mode="json"),
                error=None,
            )
