"""The lineage of pattern versions: a plain ``networkx.DiGraph`` with attributes, plus the
invariants (acyclic, no dangling edge, one active version per pattern) and traversals.

Nodes are version ids (``pattern@1.2.0``) carrying the version's fields; an edge
``parent -> child`` carries ``relations``, a dict relation -> correlation id, because one pair can
be linked twice (a candidate is ``derived_from`` the active version and later becomes its
``improved_version``). Edges never cross patterns, so a pattern's component is the unit of
loading, locking and cycle checks.

Mutations are validated before they touch the graph. The graph keeps no undo log: after a
failed database transaction the changed patterns are reloaded from PostgreSQL
(``nodes.effect.lineage_transaction``), so the graph never holds what the database refused.

The traversals take a version id (``pattern@1.2.0``) or a bare pattern id (no ``@``), which
stands for that pattern's active version.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import networkx as nx

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion
from lineage.config_diff import ConfigChange, config_diff

Relations = Collection[EnumLineageRelation] | EnumLineageRelation | None
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def invariant_error(message: str, **details: Any) -> ModelOnexError:
    return ModelOnexError(EnumErrorCode.LINEAGE_INVARIANT, message, details=details)


def version_attrs(version: ModelPatternVersion) -> dict[str, Any]:
    """The node attributes of a version (what ``to_version`` reads back)."""
    return {
        "pattern_id": version.pattern_id,
        "version": version.version,
        "status": version.status.value,
        "config": version.config,
        "traffic_weight": version.traffic_weight,
        "metrics": version.metrics,
        "correlation_id": version.correlation_id,
        "created_at": version.created_at,
    }


def relation_values(relation: Relations) -> frozenset[str] | None:
    if relation is None:
        return None
    if isinstance(relation, EnumLineageRelation):
        return frozenset({relation.value})
    return frozenset(EnumLineageRelation(r).value for r in relation)


class ModelLineageGraph:
    """Original API names: ``get_lineage_path``, ``get_ancestors``, ``get_descendants``."""

    def __init__(self, graph: nx.DiGraph | None = None) -> None:
        self.graph: nx.DiGraph = graph if graph is not None else nx.DiGraph()
        self._active: dict[str, str] = {}
        for vid, attrs in self.graph.nodes(data=True):
            if attrs["status"] == EnumVersionStatus.ACTIVE.value:
                self._claim_active(attrs["pattern_id"], vid)

    # ------------------------------------------------------------------ reading
    def __contains__(self, version_id: object) -> bool:
        return version_id in self.graph

    def __len__(self) -> int:
        return int(self.graph.number_of_nodes())

    def _attrs(self, version_id: str) -> dict[str, Any]:
        try:
            attrs: dict[str, Any] = self.graph.nodes[version_id]
        except KeyError:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND, f"no version {version_id!r} in the lineage graph"
            ) from None
        return attrs

    def resolve(self, ref: str) -> str:
        """The version id ``ref`` names: itself when it has an ``@``, else (a pattern id) that
        pattern's active version. NOT_FOUND when there is no such version."""
        if "@" in ref:
            self._attrs(ref)
            return ref
        active = self._active.get(ref)
        if active is None:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"no active version of pattern {ref!r} in the lineage graph",
            )
        return active

    def version(self, version_id: str) -> ModelPatternVersion:
        return version_from_mapping(self._attrs(version_id))

    def pattern_ids(self) -> list[str]:
        return sorted({attrs["pattern_id"] for _, attrs in self.graph.nodes(data=True)})

    def version_ids(self, pattern_id: str) -> list[str]:
        return [v for v, attrs in self.graph.nodes(data=True) if attrs["pattern_id"] == pattern_id]

    def relations(self, parent_id: str, child_id: str) -> dict[EnumLineageRelation, UUID | None]:
        data = self.graph.get_edge_data(parent_id, child_id)
        if data is None:
            return {}
        return {EnumLineageRelation(r): cid for r, cid in data["relations"].items()}

    def edges(self) -> Iterator[tuple[str, str, EnumLineageRelation, UUID | None]]:
        for parent, child, data in self.graph.edges(data=True):
            for relation, cid in data["relations"].items():
                yield parent, child, EnumLineageRelation(relation), cid

    # ---------------------------------------------------------------- traversal
    def _walk(self, ref: str, *, up: bool, relation: Relations, max_depth: int | None) -> set[str]:
        version_id = self.resolve(ref)
        wanted = relation_values(relation)
        if wanted is None and max_depth is None:
            found: set[str] = (
                nx.ancestors(self.graph, version_id)
                if up
                else nx.descendants(self.graph, version_id)
            )
            return found
        if max_depth is not None and max_depth < 0:
            raise ValueError(f"max_depth must be >= 0, got {max_depth}")
        adjacency = self.graph.pred if up else self.graph.succ
        seen: set[str] = set()
        frontier = deque([(version_id, 0)])
        while frontier:
            node, depth = frontier.popleft()
            if max_depth is not None and depth >= max_depth:
                continue
            for neighbour, data in adjacency[node].items():
                if neighbour in seen or (
                    wanted is not None and wanted.isdisjoint(data["relations"])
                ):
                    continue
                seen.add(neighbour)
                frontier.append((neighbour, depth + 1))
        seen.discard(version_id)
        return seen

    def get_ancestors(
        self, version_id: str, *, relation: Relations = None, max_depth: int | None = None
    ) -> set[str]:
        """Every version this one (or the pattern's active one) descends from, optionally only
        along ``relation`` edges and at most ``max_depth`` hops up."""
        return self._walk(version_id, up=True, relation=relation, max_depth=max_depth)

    def get_descendants(
        self, version_id: str, *, relation: Relations = None, max_depth: int | None = None
    ) -> set[str]:
        """Every version derived from this one (or from the pattern's active one)."""
        return self._walk(version_id, up=False, relation=relation, max_depth=max_depth)

    def order_key(self, version_id: str) -> tuple[datetime, tuple[int, ...], str]:
        """Creation order, semver breaking ties: how versions are listed everywhere."""
        attrs = self.graph.nodes[version_id]
        semver = tuple(int(part) for part in attrs["version"].split("."))
        return attrs["created_at"] or _EPOCH, semver, version_id

    def roots(self, pattern_id: str) -> list[str]:
        return sorted(
            (v for v in self.version_ids(pattern_id) if self.graph.in_degree(v) == 0),
            key=self.order_key,
        )

    def get_lineage_path(self, version_id: str) -> list[str]:
        """Root -> ``version_id`` (or the pattern's active version) along the fewest hops from
        the pattern's oldest root."""
        version_id = self.resolve(version_id)
        ancestors = self.get_ancestors(version_id)
        roots = sorted((a for a in ancestors if self.graph.in_degree(a) == 0), key=self.order_key)
        if not roots:
            return [version_id]
        # BFS over the ancestors only, children in creation order: among equally short paths
        # the answer does not depend on the order the graph was loaded in.
        allowed = ancestors | {version_id}
        came_from: dict[str, str] = {}
        frontier = deque([roots[0]])
        while frontier and version_id not in came_from:
            node = frontier.popleft()
            for child in sorted(allowed.intersection(self.graph.succ[node]), key=self.order_key):
                if child not in came_from and child != roots[0]:
                    came_from[child] = node
                    frontier.append(child)
        path = [version_id]
        while path[-1] != roots[0]:
            path.append(came_from[path[-1]])
        return path[::-1]

    def lowest_common_ancestor(self, first: str, second: str) -> str | None:
        """The common ancestor (either version itself included) nearest to both; ties go to the
        newest. None when the two share no history."""
        first, second = self.resolve(first), self.resolve(second)
        common = (self.get_ancestors(first) | {first}) & (self.get_ancestors(second) | {second})
        if not common:
            return None
        # The lowest ones are those with no descendant inside the common set.
        lowest = [c for c in common if common.isdisjoint(self.graph.succ[c])]
        return max(lowest, key=self.order_key)

    def head(self, pattern_id: str) -> ModelPatternVersion | None:
        """The pattern's active version."""
        active = self._active.get(pattern_id)
        return self.version(active) if active is not None else None

    def history(self, pattern_id: str) -> list[ModelPatternVersion]:
        """The pattern's versions in creation order (semver breaks ties)."""
        return [self.version(v) for v in sorted(self.version_ids(pattern_id), key=self.order_key)]

    def config_diff(self, first: str, second: str) -> list[ConfigChange]:
        """How ``second``'s config differs from ``first``'s."""
        return config_diff(self._attrs(first)["config"], self._attrs(second)["config"])

    def component(self, pattern_id: str) -> ModelLineageGraph:
        """A copy of one pattern's versions and edges."""
        return ModelLineageGraph(self.graph.subgraph(self.version_ids(pattern_id)).copy())

    # -------------------------------------------------------------- invariants
    def _claim_active(self, pattern_id: str, version_id: str) -> None:
        holder = self._active.get(pattern_id)
        if holder is not None and holder != version_id:
            raise invariant_error(
                f"pattern {pattern_id!r} already has an active version ({holder}); archive it "
                f"before activating {version_id}",
                pattern_id=pattern_id,
                active=holder,
                version_id=version_id,
            )
        self._active[pattern_id] = version_id

    def check_invariants(self) -> None:
        """For a graph built or loaded in bulk: acyclic, edges within one pattern."""
        if not nx.is_directed_acyclic_graph(self.graph):
            cycle = nx.find_cycle(self.graph)
            raise invariant_error(f"the lineage graph has a cycle: {cycle}", cycle=cycle)
        nodes = self.graph.nodes
        for parent, child in self.graph.edges():
            if nodes[parent]["pattern_id"] != nodes[child]["pattern_id"]:
                raise invariant_error(f"edge {parent} -> {child} crosses patterns")

    # --------------------------------------------------------------- mutation
    def add_version(self, version: ModelPatternVersion) -> None:
        vid = version.version_id
        if vid in self.graph:
            raise invariant_error(f"version {vid} already exists", version_id=vid)
        if version.status is EnumVersionStatus.ACTIVE:
            self._claim_active(version.pattern_id, vid)
        self.graph.add_node(vid, **version_attrs(version))

    def add_edge(
        self,
        parent_id: str,
        child_id: str,
        relation: EnumLineageRelation,
        *,
        correlation_id: UUID | None = None,
    ) -> None:
        check_edge(self, parent_id, child_id)
        relation = EnumLineageRelation(relation)
        if nx.has_path(self.graph, child_id, parent_id):
            raise cycle_error(parent_id, child_id)
        data = self.graph.get_edge_data(parent_id, child_id)
        if data is None:
            self.graph.add_edge(parent_id, child_id, relations={relation.value: correlation_id})
        elif relation.value not in data["relations"]:
            data["relations"][relation.value] = correlation_id

    def set_status(self, version_id: str, status: EnumVersionStatus) -> None:
        attrs = self._attrs(version_id)
        pattern_id = attrs["pattern_id"]
        if status is EnumVersionStatus.ACTIVE:
            self._claim_active(pattern_id, version_id)
        elif self._active.get(pattern_id) == version_id:
            del self._active[pattern_id]
        attrs["status"] = status.value

    def replace_pattern(self, pattern_id: str, component: ModelLineageGraph) -> None:
        """Swap in a freshly loaded copy of one pattern's component."""
        foreign = set(component.pattern_ids()) - {pattern_id}
        if foreign:
            raise ValueError(f"component of {pattern_id!r} holds other patterns: {sorted(foreign)}")
        self.graph.remove_nodes_from(self.version_ids(pattern_id))
        self._active.pop(pattern_id, None)
        self.graph.update(component.graph)
        if pattern_id in component._active:
            self._active[pattern_id] = component._active[pattern_id]


def edge_error(
    parent_id: str, child_id: str, parent_pattern: str | None, child_pattern: str | None
) -> ModelOnexError | None:
    """What is wrong with an edge whose ends' patterns are known (None: no such version),
    whether they were read from the graph or from Postgres: a self-edge, a dangling end, or an
    edge across patterns. The cycle check needs the graph: ``cycle_error``."""
    if parent_id == child_id:
        return invariant_error(f"a version cannot be its own parent ({parent_id})")
    for end, pattern in ((parent_id, parent_pattern), (child_id, child_pattern)):
        if pattern is None:
            return invariant_error(
                f"edge {parent_id} -> {child_id}: no version {end} (it does not exist)",
                missing=end,
            )
    if parent_pattern != child_pattern:
        return invariant_error(
            f"edge {parent_id} -> {child_id} crosses patterns; lineage stays within a pattern"
        )
    return None


def cycle_error(parent_id: str, child_id: str) -> ModelOnexError:
    return invariant_error(
        f"edge {parent_id} -> {child_id} would close a cycle ({child_id} is already an "
        f"ancestor of {parent_id})",
        parent_id=parent_id,
        child_id=child_id,
    )


def check_edge(graph: ModelLineageGraph, parent_id: str, child_id: str) -> None:
    nodes = graph.graph.nodes
    error = edge_error(
        parent_id,
        child_id,
        nodes[parent_id]["pattern_id"] if parent_id in nodes else None,
        nodes[child_id]["pattern_id"] if child_id in nodes else None,
    )
    if error is not None:
        raise error


def build_graph(
    versions: Iterable[Mapping[str, Any]],
    edges: Iterable[tuple[str, str, str, UUID | None]],
) -> ModelLineageGraph:
    """Bulk construction from stored rows (node attribute dicts keyed by ``version_id``)."""
    graph = nx.DiGraph()
    graph.add_nodes_from((row["version_id"], version_row_attrs(row)) for row in versions)
    succ = graph.succ
    for parent, child, relation, cid in edges:
        data = succ[parent].get(child)
        if data is None:
            graph.add_edge(parent, child, relations={relation: cid})
        else:
            data["relations"][relation] = cid
    return ModelLineageGraph(graph)


def version_from_mapping(attrs: Mapping[str, Any]) -> ModelPatternVersion:
    """A version from node attributes or a ``pattern_versions`` row (same keys)."""
    return ModelPatternVersion(
        pattern_id=attrs["pattern_id"],
        version=attrs["version"],
        status=EnumVersionStatus(attrs["status"]),
        config=attrs["config"],
        traffic_weight=attrs["traffic_weight"],
        metrics=attrs["metrics"],
        correlation_id=attrs["correlation_id"],
        created_at=attrs["created_at"],
    )


def version_row_attrs(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "pattern_id": row["pattern_id"],
        "version": row["version"],
        "status": row["status"],
        "config": row["config"],
        "traffic_weight": row["traffic_weight"],
        "metrics": row["metrics"],
        "correlation_id": row["correlation_id"],
        "created_at": row["created_at"],
    }
