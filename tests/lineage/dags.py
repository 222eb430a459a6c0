"""Random lineage DAGs for tests: chains with branches, edges always from older to newer."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_pattern_version import ModelPatternVersion
from lineage import ModelLineageGraph

RELATIONS = list(EnumLineageRelation)
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def version(
    pattern_id: str, i: int, status: EnumVersionStatus, **config: object
) -> ModelPatternVersion:
    return ModelPatternVersion(
        pattern_id=pattern_id,
        version=f"1.{i}.0",
        status=status,
        config={"i": i, **config},
        metrics={"n": i},
        created_at=T0 + timedelta(seconds=i),
    )


def random_dag(
    seed: int,
    n_versions: int,
    *,
    n_patterns: int = 1,
    extra_parent_p: float = 0.2,
    prefix: str = "p",
) -> ModelLineageGraph:
    """Each new version gets a parent among its pattern's older ones (recent ones likelier),
    sometimes a second parent; the newest version of each pattern is active."""
    rng = random.Random(seed)
    graph = ModelLineageGraph()
    per_pattern: dict[str, list[str]] = {f"{prefix}{k}": [] for k in range(n_patterns)}
    for i in range(n_versions):
        pid = f"{prefix}{i % n_patterns}"
        older = per_pattern[pid]
        v = version(pid, len(older), EnumVersionStatus.ARCHIVED, seed=seed)
        graph.add_version(v)
        if older:
            parent = older[max(0, len(older) - 1 - int(rng.expovariate(0.3)))]
            graph.add_edge(parent, v.version_id, rng.choice(RELATIONS))
            if len(older) > 1 and rng.random() < extra_parent_p:
                other = rng.choice(older)
                graph.add_edge(other, v.version_id, rng.choice(RELATIONS))
        older.append(v.version_id)
    for ids in per_pattern.values():
        if ids:
            graph.set_status(ids[-1], EnumVersionStatus.ACTIVE)
    return graph
