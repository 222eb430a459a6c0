"""The README demo: a simulated production system improved by the loop, checked against truth.

Registers the simulator's demo patterns, then runs scheduled cycles: traffic is routed with
``assign`` (deterministic allocation), executed by the simulator, ingested by COPY, and the
loop runs over all patterns with ``run_many``. At the end it prints each pattern's lineage
and, for every change the loop applied, whether the simulator's ground truth agrees that it
was really better.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.enum_loop import EnumFeedbackType, EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_objective import ModelObjective
from contracts.model_objective_store import ModelObjectiveSetInput
from contracts.model_pattern_improvement import ModelPatternImprovement
from nodes.service.facade import FeedbackLoopService
from nodes.simulation.simulator import DEMO_PATTERNS, ProductionSimulator, demo_objective

CYCLE = timedelta(hours=1)


class DemoTagTaken(ValueError):
    """The demo's pattern ids exist already: running on them would not reproduce anything."""


async def run_demo(
    service: FeedbackLoopService,
    *,
    cycles: int = 10,
    requests_per_cycle: int = 1000,
    seed: int = 7,
    tag: str | None = None,
    out: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Returns per pattern the applied changes and whether each was truly better."""
    tag = tag or uuid.uuid4().hex[:4]
    simulator = ProductionSimulator(
        {f"{n}-{tag}": t for n, (t, _) in DEMO_PATTERNS.items()}, seed=seed
    )
    patterns = {f"{name}-{tag}": config for name, (_, config) in DEMO_PATTERNS.items()}
    taken = sorted(set(patterns) & set(await service.patterns()))
    if taken:
        raise DemoTagTaken(
            f"tag {tag!r} is already used in this database ({', '.join(taken)}): "
            "pick another --tag, or none for a random one"
        )
    objectives = {f"{n}-{tag}": demo_objective(n, f"{n}-{tag}") for n in DEMO_PATTERNS}
    for pattern_id, config in patterns.items():
        await service.register(pattern_id, config, actor="demo")
        await service.set_objective(
            ModelObjectiveSetInput(
                objective=objectives[pattern_id], actor="demo", reason="the demo's objective"
            )
        )
    start = datetime.now(UTC) - cycles * CYCLE
    out(
        f"demo {tag}: {len(patterns)} patterns, {cycles} cycles x {requests_per_cycle} "
        "requests per pattern"
    )
    for cycle in range(cycles):
        cycle_start = start + cycle * CYCLE
        rows: list[dict[str, Any]] = []
        for pattern_id in patterns:
            rows += await route_traffic(
                simulator,
                service,
                pattern_id,
                [f"request-{cycle}-{i}" for i in range(requests_per_cycle)],
                start=cycle_start,
                spacing_s=CYCLE.total_seconds() / (requests_per_cycle + 1),
            )
        await service.ingest(rows)
        results = await service.run_many(
            [
                ModelFeedbackLoopInput(
                    pattern_id=pattern_id,
                    feedback_type=EnumFeedbackType.ALL,
                    as_of=cycle_start + CYCLE,
                    actor="demo",
                )
                for pattern_id in patterns
            ]
        )
        summary = []
        for pattern_id, result in zip(patterns, results, strict=True):
            if not result.success or result.data is None:
                summary.append(f"{pattern_id}: FAILED {(result.error or {}).get('message')}")
                continue
            d = result.data
            summary.append(
                f"{pattern_id}: active {(d.active_version_id or '-@-').split('@')[1]}"
                f" new={d.improvements_identified} applied={d.improvements_applied}"
                + (
                    f" p={d.p_value:.3g} delta={d.performance_delta:+.2f}"
                    if d.p_value is not None
                    else ""
                )
            )
        out(f"cycle {cycle + 1:>2}: " + " | ".join(summary))
    return await _report(service, simulator, patterns, objectives, out)


async def route_traffic(
    simulator: ProductionSimulator,
    service: FeedbackLoopService,
    pattern_id: str,
    unit_keys: list[str],
    *,
    start: datetime,
    spacing_s: float,
) -> list[dict[str, Any]]:
    """Route each unit with assign() at its simulated time, then run it on the version it was
    given: the execution rows production would log, each with its version id, starting when
    the unit was routed (so exposures and executions cover the same periods)."""
    service.forget_allocation(pattern_id)
    units: dict[str, list[str]] = defaultdict(list)
    times = {unit: start + timedelta(seconds=i * spacing_s) for i, unit in enumerate(unit_keys)}
    for unit in unit_keys:
        units[await service.assign(pattern_id, unit, at=times[unit])].append(unit)
    configs = {v.version_id: v.config for v in await service.versions(pattern_id)}
    rows: list[dict[str, Any]] = []
    for version_id, keys in sorted(units.items()):
        rows += simulator.simulate(
            pattern_id,
            version_id,
            configs[version_id],
            len(keys),
            start=start,
            spacing_s=spacing_s,
            unit_keys=keys,
        )
    for row in rows:
        row["started_at"] = times[row["metadata"]["unit_key"]]
    await service.flush_exposures()  # as a scheduler's cycle would end: exposures written
    return rows


async def _report(
    service: FeedbackLoopService,
    simulator: ProductionSimulator,
    patterns: dict[str, dict[str, Any]],
    objectives: dict[str, ModelObjective],
    out: Callable[[str], None],
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for pattern_id in patterns:
        versions = {v.version_id: v for v in await service.versions(pattern_id)}
        applied: list[ModelPatternImprovement] = await service.improvements(
            pattern_id, [EnumImprovementStatus.APPLIED]
        )
        graph = await service.lineage(pattern_id)
        out(f"\n{pattern_id} lineage:")
        for version in sorted(versions.values(), key=lambda v: v.semver):
            parents = ", ".join(
                f"{parent.split('@')[1]} ({'+'.join(sorted(graph.relations(parent, vid)))})"
                for vid in [version.version_id]
                for parent in sorted(graph.graph.pred[vid])
            )
            marker = " <- active" if version.status is EnumVersionStatus.ACTIVE else ""
            out(
                f"  {version.version:<7} {version.status.value:<9} "
                f"parents: {parents or '-':<40} {version.config}{marker}"
            )
        checks = []
        for improvement in applied:
            old = versions[improvement.base_version_id].config
            new = versions[improvement.candidate_version_id or ""].config
            truly = simulator.is_truly_better(
                pattern_id, old, new, improvement.metric.value, objective=objectives[pattern_id]
            )
            checks.append(
                {
                    "improvement": improvement.description,
                    "metric": improvement.metric.value,
                    "truly_better": truly,
                }
            )
            out(
                f"  applied: {improvement.description} [{improvement.metric.value}] -> "
                f"truly better: {'yes' if truly else 'NO'}"
            )
        if not applied:
            out("  applied: nothing")
        report[pattern_id] = checks
    return report
