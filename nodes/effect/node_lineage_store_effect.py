"""The durable copy of the lineage graph: versions and edges in Postgres.

Every method runs on the caller's connection, so its writes join the caller's transaction.
Writers take the pattern's advisory lock (transaction-scoped; re-entrant when the caller's
session already holds it) before checking an invariant, so two writers of one pattern cannot
both pass a check and then both write. The database enforces the rest (foreign keys, no
self-edge, one active version per pattern); its errors come back as ``ModelOnexError``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_lineage_walk import ModelLineageWalkInput, ModelLineageWalkOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion, bump_minor
from lineage.model_lineage_graph import (
    ModelLineageGraph,
    Relations,
    build_graph,
    cycle_error,
    edge_error,
    invariant_error,
    relation_values,
    version_from_mapping,
)
from nodes.storage import sql_lineage
from nodes.storage.locks import lock_pattern_for_transaction

Parent = tuple[str, EnumLineageRelation]


class NodeLineageStoreEffect:
    # ------------------------------------------------------------------ reads
    async def get_version(
        self, conn: asyncpg.Connection, version_id: str
    ) -> ModelPatternVersion | None:
        row = await sql_lineage.fetch_version(conn, version_id)
        return version_from_mapping(row) if row is not None else None

    async def require_version(
        self, conn: asyncpg.Connection, version_id: str
    ) -> ModelPatternVersion:
        version = await self.get_version(conn, version_id)
        if version is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no version {version_id!r}")
        return version

    async def resolve(self, conn: asyncpg.Connection, ref: str) -> str:
        """The version id ``ref`` names: itself when it has an ``@``, else (a pattern id) that
        pattern's active version, as ``ModelLineageGraph.resolve`` answers it."""
        if "@" in ref:
            await self.require_version(conn, ref)
            return ref
        active = await sql_lineage.active_version_id(conn, ref)
        if active is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no active version of pattern {ref!r}")
        return active

    async def list_versions(
        self, conn: asyncpg.Connection, pattern_id: str
    ) -> list[ModelPatternVersion]:
        """In semver order."""
        return [version_from_mapping(r) for r in await sql_lineage.fetch_versions(conn, pattern_id)]

    async def list_versions_with_objective(
        self, conn: asyncpg.Connection, pattern_id: str
    ) -> tuple[list[ModelPatternVersion], tuple[int, dict[str, Any]] | None, datetime | None]:
        """``list_versions``, the newest stored objective's ``(version, body)`` (turned into
        the objective by ``NodeObjectiveStoreEffect.from_stored``) and the database's clock
        at the read (None without a version), in one round trip."""
        rows, objective, read_at = await sql_lineage.fetch_versions_with_objective(conn, pattern_id)
        return [version_from_mapping(r) for r in rows], objective, read_at

    async def list_patterns(self, conn: asyncpg.Connection) -> list[str]:
        return await sql_lineage.pattern_ids(conn)

    async def next_version(self, conn: asyncpg.Connection, pattern_id: str) -> str:
        """The next minor version; call under the pattern's lock, in the inserting transaction."""
        latest = await sql_lineage.max_version(conn, pattern_id)
        if latest is None:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"pattern {pattern_id!r} has no version")
        return bump_minor(latest)

    async def load_pattern(self, conn: asyncpg.Connection, pattern_id: str) -> ModelLineageGraph:
        """One pattern's component: the default unit of loading ."""
        versions, edges = await sql_lineage.fetch_component(conn, pattern_id)
        return build_graph(versions, edges)

    async def load_all(self, conn: asyncpg.Connection) -> ModelLineageGraph:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            versions = await sql_lineage.fetch_all_versions(conn)
            edges = await sql_lineage.fetch_all_edges(conn)
        return build_graph(versions, (tuple(e) for e in edges))

    async def walk(
        self, conn: asyncpg.Connection, query: ModelLineageWalkInput
    ) -> ModelLineageWalkOutput:
        """The same answer as ``ModelLineageGraph.get_ancestors`` / ``get_descendants``,
        computed in SQL. ``version_id`` may be a pattern id (its active version), as in the
        graph; NOT_FOUND for an unknown version or a pattern without an active version."""
        version_id = await self.resolve(conn, query.version_id)
        found = await sql_lineage.walk(
            conn,
            version_id,
            up=query.up,
            relations=_relations(query.relations),
            max_depth=query.max_depth,
        )
        return ModelLineageWalkOutput(version_ids=frozenset(found))

    async def ancestors(
        self,
        conn: asyncpg.Connection,
        version_id: str,
        *,
        relation: Relations = None,
        max_depth: int | None = None,
    ) -> set[str]:
        return await self._walk(conn, version_id, True, relation, max_depth)

    async def descendants(
        self,
        conn: asyncpg.Connection,
        version_id: str,
        *,
        relation: Relations = None,
        max_depth: int | None = None,
    ) -> set[str]:
        return await self._walk(conn, version_id, False, relation, max_depth)

    async def _walk(
        self,
        conn: asyncpg.Connection,
        version_id: str,
        up: bool,
        relation: Relations,
        max_depth: int | None,
    ) -> set[str]:
        relations = None if relation is None else tuple(_as_relations(relation))
        query = ModelLineageWalkInput(
            version_id=version_id, up=up, relations=relations, max_depth=max_depth
        )
        return set((await self.walk(conn, query)).version_ids)

    # ----------------------------------------------------------------- writes
    async def create_version(
        self,
        conn: asyncpg.Connection,
        version: ModelPatternVersion,
        *,
        parents: Sequence[Parent] = (),
        correlation_id: UUID | None = None,
    ) -> ModelPatternVersion:
        """Insert a version with its parent edges, atomically; returns it with ``created_at``."""
        async with conn.transaction():
            await lock_pattern_for_transaction(conn, version.pattern_id)
            for parent_id, _ in parents:
                parent = await self.get_version(conn, parent_id)
                error = edge_error(
                    parent_id,
                    version.version_id,
                    parent.pattern_id if parent is not None else None,
                    version.pattern_id,
                )
                if error is not None:
                    raise error
            try:
                created_at = await conn.fetchval(
                    sql_lineage.INSERT_VERSION,
                    version.version_id,
                    version.pattern_id,
                    version.version,
                    version.status.value,
                    version.config,
                    version.traffic_weight,
                    version.metrics,
                    version.correlation_id,
                )
            except asyncpg.UniqueViolationError as exc:
                raise _unique_error(exc, version) from None
            for parent_id, relation in parents:
                await conn.execute(
                    sql_lineage.INSERT_EDGE,
                    parent_id,
                    version.version_id,
                    EnumLineageRelation(relation).value,
                    correlation_id,
                )
        return version.model_copy(update={"created_at": created_at})

    async def add_edge(
        self,
        conn: asyncpg.Connection,
        parent_id: str,
        child_id: str,
        relation: EnumLineageRelation,
        *,
        correlation_id: UUID | None = None,
    ) -> None:
        """Refuses a self-edge, a dangling end, an edge across patterns and a cycle."""
        async with conn.transaction():
            parent = await self.get_version(conn, parent_id)
            child = await self.get_version(conn, child_id)
            error = edge_error(
                parent_id,
                child_id,
                parent.pattern_id if parent is not None else None,
                child.pattern_id if child is not None else None,
            )
            if error is not None:
                raise error
            assert parent is not None  # edge_error refuses a missing end
            await lock_pattern_for_transaction(conn, parent.pattern_id)
            if await sql_lineage.reaches(conn, child_id, parent_id):
                raise cycle_error(parent_id, child_id)
            await conn.execute(
                sql_lineage.INSERT_EDGE,
                parent_id,
                child_id,
                EnumLineageRelation(relation).value,
                correlation_id,
            )

    async def set_status(
        self, conn: asyncpg.Connection, version_id: str, status: EnumVersionStatus
    ) -> None:
        try:
            found = await sql_lineage.update_version(conn, version_id, "status", status.value)
        except asyncpg.UniqueViolationError:
            raise invariant_error(
                f"cannot activate {version_id}: its pattern already has an active version; "
                "archive that one first",
                version_id=version_id,
            ) from None
        if not found:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no version {version_id!r}")

    async def set_traffic_weight(
        self, conn: asyncpg.Connection, version_id: str, weight: float
    ) -> None:
        if not await sql_lineage.update_version(conn, version_id, "traffic_weight", weight):
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no version {version_id!r}")

    async def update_metrics(
        self, conn: asyncpg.Connection, version_id: str, metrics: dict[str, Any]
    ) -> None:
        await self.update_metrics_many(conn, {version_id: metrics})

    async def update_metrics_many(
        self, conn: asyncpg.Connection, metrics: dict[str, dict[str, Any]]
    ) -> None:
        """Several versions' metrics in one statement (one round trip, no transaction needed
        for the versions it knows); NOT_FOUND names the first unknown version."""
        updated = await sql_lineage.update_metrics(conn, metrics)
        missing = [vid for vid in metrics if vid not in updated]
        if missing:
            raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no version {missing[0]!r}")

    async def save_graph(self, conn: asyncpg.Connection, graph: ModelLineageGraph) -> None:
        """Bulk-store a graph built in memory (new versions only), by COPY, in one transaction."""
        graph.check_invariants()
        nodes = graph.graph.nodes(data=True)
        async with conn.transaction():
            now = await conn.fetchval("SELECT now()")
            await conn.copy_records_to_table(
                "pattern_versions",
                columns=sql_lineage.VERSION_COLUMNS,
                records=_version_tuples(nodes, now),
            )
            await conn.copy_records_to_table(
                "lineage_edges",
                columns=sql_lineage.EDGE_COLUMNS[:-1],
                records=((p, c, r.value, cid) for p, c, r, cid in graph.edges()),
            )


def _version_tuples(
    nodes: Iterable[tuple[str, dict[str, Any]]], now: datetime
) -> Iterable[tuple[Any, ...]]:
    for vid, a in nodes:
        yield (
            vid,
            a["pattern_id"],
            a["version"],
            a["status"],
            a["config"],
            a["traffic_weight"],
            a["metrics"],
            a["correlation_id"],
            a["created_at"] or now,
        )


def _as_relations(relation: Relations) -> list[EnumLineageRelation]:
    return [EnumLineageRelation(r) for r in sorted(relation_values(relation) or ())]


def _relations(relation: Relations) -> list[str] | None:
    wanted = relation_values(relation)
    return sorted(wanted) if wanted is not None else None


def _unique_error(exc: asyncpg.UniqueViolationError, version: ModelPatternVersion) -> Exception:
    if "one_active" in (exc.constraint_name or ""):
        return invariant_error(
            f"pattern {version.pattern_id!r} already has an active version; "
            f"{version.version_id} cannot be active too",
            version_id=version.version_id,
        )
    return invariant_error(f"version {version.version_id} already exists")
