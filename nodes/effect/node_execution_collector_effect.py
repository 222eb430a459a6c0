"""Collect: the pattern's versions and its executions' statistics, aggregated in SQL.

Statistics are read from the hour buckets the database keeps (plus the raw rows of the partial
hours at a span's ends), so a look costs the same with a day of history or a month. They are
read from raw rows instead when a bucket cannot serve: its reward sums were made with another
reward than the objective's now (they are rebuilt when the objective changes; a database
upgraded from before buckets has none until then), or ``read_buckets`` is off. Means and
variances are the same either way (up to float rounding); durations' order statistics from
buckets are known to within their 0.1 % bin, and bounds on them are read outwards.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

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
from contracts.model_trend import ModelTrend, ModelTrendInput, ModelTrendPoint
from nodes.compute.bucket_stats import arm_from_buckets
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.effect.node_objective_store_effect import NodeObjectiveStoreEffect
from nodes.storage import sql_buckets, sql_executions, sql_exposures, sql_improvements
from nodes.storage.sql_exposures import EXPOSURE_BUCKET_S

TOP_ERRORS = 5
_TICK = timedelta(microseconds=1)
"""timestamptz's resolution: ``<= end`` is ``< end + _TICK``."""


def _arm_of(grouped: dict[str, list[asyncpg.Record]], version_id: str) -> ModelArmStats:
    """An experiment's arm from its parts (none: no executions yet)."""
    parts = grouped.get(version_id)
    if not parts:
        return ModelArmStats(version_id=version_id, n=0, successes=0)
    return arm_from_buckets(version_id, parts, [], tail=True)


def _floor(at: datetime, period: timedelta) -> datetime:
    """The start of the UTC hour or day ``at`` lies in."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    return epoch + (at - epoch) // period * period


def _trend_point(
    at: datetime, version_id: str, rows: list[asyncpg.Record], reward: ModelRewardConfig
) -> ModelTrendPoint:
    rewarded = all(sql_buckets.sums_reward(r, reward) for r in rows)
    parts = [r if rewarded else {**r, "reward_sum": 0.0, "reward_sq": 0.0} for r in rows]
    arm = arm_from_buckets(version_id, parts, [], tail=False)
    return ModelTrendPoint(
        start=at,
        version_id=version_id,
        n=arm.n,
        success_rate=arm.success_rate,
        duration_mean=arm.duration_mean,
        duration_p50=arm.duration_p50,
        duration_p95=arm.duration_p95,
        duration_p99=arm.duration_p99,
        reward_mean=arm.reward_mean if rewarded else None,
    )


def _by_version(
    parts: list[asyncpg.Record], reward: ModelRewardConfig, unversioned_as: str
) -> dict[str, list[asyncpg.Record]] | None:
    """The parts per version ('' read as ``unversioned_as``); None when a part's reward sums
    were not made with ``reward`` (the caller then reads raw rows)."""
    grouped: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for part in parts:
        if not sql_buckets.sums_reward(part, reward):
            return None
        grouped[part["version_id"] or unversioned_as].append(part)
    return grouped


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
        *,
        read_buckets: bool = True,
    ) -> None:
        """``read_buckets=False`` reads every statistic from raw rows (to compare the two)."""
        self._versions = lineage_store
        self._objectives = objectives or NodeObjectiveStoreEffect()
        self._read_buckets = read_buckets

    async def collect(
        self, conn: asyncpg.Connection, contract: ModelCollectInput
    ) -> ModelCollectOutput:
        versions, stored_objective, read_at = await self._versions.list_versions_with_objective(
            conn, contract.pattern_id
        )
        active = next((v for v in versions if v.status is EnumVersionStatus.ACTIVE), None)
        if active is None or read_at is None:  # no version at all: neither
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"pattern {contract.pattern_id!r} has no active version: register it first "
                "(feedback-loop register PATTERN --config JSON, or FeedbackLoopService.register)",
            )
        end = contract.as_of or read_at
        objective = self._objectives.from_stored(contract.pattern_id, stored_objective)
        reward = objective.reward
        window = await self._window(
            conn, contract.pattern_id, active.version_id, end, contract.time_window_days, reward
        )
        improvements = await sql_improvements.open_improvements(conn, contract.pattern_id)
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
            improvements=improvements,
        )

    async def trend(self, conn: asyncpg.Connection, request: ModelTrendInput) -> ModelTrend:
        """Per period (UTC hours or days) and version, oldest first, from the buckets alone."""
        versions, objective, now = await self._versions.list_versions_with_objective(
            conn, request.pattern_id
        )
        if not versions or now is None:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND, f"no pattern {request.pattern_id!r}: register it first"
            )
        reward = self._objectives.from_stored(request.pattern_id, objective).reward
        period = timedelta(hours=1) if request.by == "hour" else timedelta(days=1)
        start = _floor(now - request.days * period, period)
        periods: dict[tuple[datetime, str], list[asyncpg.Record]] = defaultdict(list)
        for row in await sql_buckets.trend_buckets(conn, request.pattern_id, start, now):
            periods[_floor(row["bucket_start"], period), row["version_id"]].append(row)
        return ModelTrend(
            pattern_id=request.pattern_id,
            by=request.by,
            points=[_trend_point(at, vid, rows, reward) for (at, vid), rows in periods.items()],
        )

    async def _window(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        active_id: str,
        end: datetime,
        days: int,
        reward: ModelRewardConfig,
    ) -> list[ModelArmStats]:
        """Every version's statistics over the window, rows without a version as the active
        one's, each with its most frequent errors."""
        if self._read_buckets:
            parts = await sql_buckets.window_parts(conn, pattern_id, end + _TICK, days)
            grouped = _by_version(parts, reward, active_id)
            if grouped is not None:
                errors: dict[str, list[ModelErrorCount]] = defaultdict(list)
                for r in await sql_executions.window_errors(conn, pattern_id, active_id, end, days):
                    if len(errors[r["vid"]]) < TOP_ERRORS:
                        errors[r["vid"]].append(
                            ModelErrorCount(message=r["error_message"], count=r["count"])
                        )
                return [
                    arm_from_buckets(vid, rows, errors[vid], tail=False)
                    for vid, rows in sorted(grouped.items())
                ]
        return [
            _arm(
                r,
                r["version_id"],
                [ModelErrorCount(message=m, count=n) for m, n in r["errors"][:TOP_ERRORS]],
            )
            for r in await sql_executions.window_stats(
                conn, pattern_id, active_id, end, days, reward
            )
        ]

    async def _arms(
        self,
        conn: asyncpg.Connection,
        pattern_id: str,
        control_id: str,
        candidate_id: str,
        end: datetime,
        reward: ModelRewardConfig,
        since: datetime | None = None,
    ) -> tuple[ModelArmStats, ModelArmStats]:
        """An experiment's control and candidate, from the candidate's first execution (or
        ``since``, when later) to ``end``."""
        if self._read_buckets:
            parts = await sql_buckets.experiment_parts(
                conn, pattern_id, control_id, candidate_id, end + _TICK, since
            )
            grouped = _by_version(parts, reward, "")
            if grouped is not None:
                return _arm_of(grouped, control_id), _arm_of(grouped, candidate_id)
        rows = {
            r["version_id"]: r
            for r in await sql_executions.experiment_stats(
                conn, pattern_id, control_id, candidate_id, end, reward, since
            )
        }
        return (
            _arm(rows.get(control_id), control_id, []),
            _arm(rows.get(candidate_id), candidate_id, []),
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
            if base in by_id:
                control, candidate = await self._arms(
                    conn, pattern_id, base, active.version_id, end, reward, improvement.watch_from
                )
                found.append(
                    ModelCandidateExperiment(
                        version=active,
                        improvement=improvement,
                        control=control,
                        candidate=candidate,
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
            control, candidate = await self._arms(
                conn, pattern_id, active_id, version.version_id, end, reward
            )
            found.append(
                ModelCandidateExperiment(
                    version=version,
                    improvement=improvement,
                    control=control,
                    candidate=candidate,
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
