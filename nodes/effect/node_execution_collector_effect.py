"""Collect: the pattern's versions and its executions' statistics, aggregated in SQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_loop import EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_collect import ModelCandidateExperiment, ModelCollectInput, ModelCollectOutput
from contracts.model_exposure import ModelArmExposure, ModelExposureWindow
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_feedback import ModelArmStats, ModelErrorCount
from contracts.model_pattern_improvement import ModelPatternImprovement
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_reward import ModelRewardConfig
from contracts.model_traffic_allocation import ModelTrafficAllocation
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_objective_store_effect import NodeObjectiveStoreEffect
from nodes.storage import sql_executions, sql_exposures, sql_improvements
from nodes.storage.sql_exposures import EXPOSURE_BUCKET_S

TOP_ERRORS = 5


def _arm(
    row: asyncpg.Record | None, version_id: str, errors: list[ModelErrorCount]
) -> ModelArmStats:
    if row is None:
        return ModelArmStats(version_id=version_id, n=0, successes=0)
    p50, p95, p99 = row["percentiles"]
    return ModelArmStats(
        version_id=version_id,
        n=row["n"],
        successes=row["successes"],
        timeouts=row["timeouts"],
        duration_mean=row["duration_mean"],
        duration_var=row["duration_var"],
        log_duration_mean=row["log_duration_mean"],
        log_duration_var=row["log_duration_var"],
        duration_p50=p50,
        duration_p95=p95,
        duration_p99=p99,
        quality_n=row["quality_n"],
        quality_mean=row["quality_mean"],
        quality_var=row["quality_var"],
        rating_n=row["rating_n"],
        rating_mean=row["rating_mean"],
        rating_var=row["rating_var"],
        cost_n=row["cost_n"],
        cost_mean=row["cost_mean"],
        cost_var=row["cost_var"],
        reward_mean=min(max(row["reward_mean"] or 0.0, 0.0), 1.0),
        reward_var=row["reward_var"],
        duration_tail=tuple(row.get("duration_tail") or ()),
        top_errors=errors,
    )


class NodeExecutionCollectorEffect:
    """Reads; never writes. Runs on the caller's connection (which holds the pattern lock)."""

    def __init__(
        self,
        lineage_store: NodeLineageStoreEffect,
        objectives: NodeObjectiveStoreEffect | None = None,
    ) -> None:
        self._versions = lineage_store
        self._objectives = objectives or NodeObjectiveStoreEffect()

    async def collect(
        self, conn: asyncpg.Connection, contract: ModelCollectInput
    ) -> ModelCollectOutput:
        versions, stored_objective = await self._versions.list_versions_with_objective(
            conn, contract.pattern_id
        )
        active = next((v for v in versions if v.status is EnumVersionStatus.ACTIVE), None)
        if active is None:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"pattern {contract.pattern_id!r} has no active version: register it first "
                "(feedback-loop register PATTERN --config JSON, or FeedbackLoopService.register)",
            )
        end = contract.as_of or await sql_executions.fetch_now(conn)
        objective = self._objectives.from_stored(contract.pattern_id, stored_objective)
        reward = objective.reward
        stats_rows = await sql_executions.window_stats(
            conn, contract.pattern_id, active.version_id, end, contract.time_window_days, reward
        )
        window = [
            _arm(
                r,
                r["version_id"],
                [ModelErrorCount(message=m, count=n) for m, n in r["errors"][:TOP_ERRORS]],
            )
            for r in stats_rows
        ]
        improvements = await sql_improvements.open_experiments(conn, contract.pattern_id)
        experiments = await self._experiments(
            conn, contract.pattern_id, active.version_id, versions, improvements, end, reward
        )
        return ModelCollectOutput(
            pattern_id=contract.pattern_id,
            window_end=end,
            objective=objective,
            active=active,
            versions=versions,
            window_stats=window,
            experiments=experiments,
            feedback_collected=sum(s.n for s in window),
            watches=await self._watches(
                conn, contract.pattern_id, active, versions, improvements, end, reward
            ),
        )

    async def _watches(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        active: ModelPatternVersion,
        versions: list[ModelPatternVersion],
        improvements: list[ModelPatternImprovement],
        end: datetime,
        reward: ModelRewardConfig,
    ) -> list[ModelCandidateExperiment]:
        """The applied change still under watch, if it is the active version: its previous
        version (keeping the holdback) against it, over executions since the apply."""
        by_id = {v.version_id: v for v in versions}
        found = []
        for improvement in improvements:
            if not improvement.watching or improvement.candidate_version_id != active.version_id:
                continue
            base = improvement.base_version_id
            rows = {
                r["version_id"]: r
                for r in await sql_executions.experiment_stats(
                    conn, pattern_id, base, active.version_id, end, reward, improvement.watch_from
                )
            }
            if base in by_id:
                found.append(
                    ModelCandidateExperiment(
                        version=active,
                        improvement=improvement,
                        control=_arm(rows.get(base), base, []),
                        candidate=_arm(rows.get(active.version_id), active.version_id, []),
                    )
                )
        return found

    async def _experiments(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        active_id: str,
        versions: list[ModelPatternVersion],
        improvements: list[ModelPatternImprovement],
        end: datetime,
        reward: ModelRewardConfig,
    ) -> list[ModelCandidateExperiment]:
        testing = {v.version_id: v for v in versions if v.status is EnumVersionStatus.TESTING}
        if not testing:
            return []
        weights = {v.version_id: v.traffic_weight for v in versions if v.traffic_weight > 0}
        allocation = (
            ModelTrafficAllocation.from_weights(pattern_id, weights).fingerprint
            if weights
            else None
        )
        until = end - timedelta(seconds=2 * EXPOSURE_BUCKET_S)
        found = []
        for improvement in improvements:
            version = testing.get(improvement.candidate_version_id or "")
            if version is None or improvement.status is not EnumImprovementStatus.TESTING:
                continue
            rows = {
                r["version_id"]: r
                for r in await sql_executions.experiment_stats(
                    conn, pattern_id, active_id, version.version_id, end, reward
                )
            }
            found.append(
                ModelCandidateExperiment(
                    version=version,
                    improvement=improvement,
                    control=_arm(rows.get(active_id), active_id, []),
                    candidate=_arm(rows.get(version.version_id), version.version_id, []),
                    exposure=None
                    if allocation is None
                    else await _exposure(
                        conn, pattern_id, allocation, active_id, improvement, until
                    ),
                )
            )
        return found


async def _exposure(
    conn: asyncpg.Connection,
    pattern_id: str,
    allocation: int,
    control_id: str,
    improvement: ModelPatternImprovement,
    until: datetime,
) -> ModelExposureWindow | None:
    """The closed exposure window of one experiment; None when assign() recorded none."""
    candidate_id = improvement.candidate_version_id or ""
    rows = {
        r["version_id"]: r
        for r in await sql_exposures.experiment_window(
            conn, pattern_id, allocation, control_id, candidate_id, improvement.srm_epoch_at, until
        )
    }
    if candidate_id not in rows or rows[candidate_id]["units"] == 0:
        return None
    arms = {
        vid: ModelArmExposure(
            version_id=vid, units=r["units"], calls=r["calls"], executions=r["executions"]
        )
        for vid, r in rows.items()
    }
    return ModelExposureWindow(control=arms[control_id], candidate=arms[candidate_id])
