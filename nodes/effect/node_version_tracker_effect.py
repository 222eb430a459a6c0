"""Track: each version's metric snapshot from the run's window, in one statement."""

from __future__ import annotations

import asyncpg

from contracts.model_track import ModelTrackInput, ModelTrackOutput
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect

_SNAPSHOT_FIELDS = frozenset(
    {
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
    }
)


class NodeVersionTrackerEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect) -> None:
        self._lineage = lineage_store

    async def track(self, conn: asyncpg.Connection, contract: ModelTrackInput) -> ModelTrackOutput:
        """Every known version's snapshot in one statement (all land together)."""
        known = set(contract.version_ids)
        snapshots = {
            arm.version_id: {
                **arm.model_dump(include=set(_SNAPSHOT_FIELDS)),
                "success_rate": arm.success_rate,
                "window_end_run": str(contract.correlation_id),
            }
            for arm in contract.stats
            if arm.version_id in known
        }
        if snapshots:
            await self._lineage.update_metrics_many(conn, snapshots)
        return ModelTrackOutput(versions_updated=list(snapshots))
