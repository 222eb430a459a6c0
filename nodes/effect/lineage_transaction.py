"""Change the in-memory graph and Postgres together, or neither.

Each change is validated and applied to the graph first (so a broken invariant is refused
before any SQL), then written on the caller's connection. If anything inside the block
raises, or the commit itself fails, Postgres rolls back and every pattern the transaction
touched is reloaded from Postgres into the graph, so the two never diverge (a graph that was
already stale before the transaction comes out matching the database, too).

Each pattern it changes is locked for the transaction first (the advisory lock every writer of
a pattern's versions takes), so a loop run, which holds that lock for its whole run and relies
on the versions it read staying current, never sees them change under it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_pattern_version import ModelPatternVersion
from lineage.model_lineage_graph import ModelLineageGraph
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect, Parent
from nodes.storage.locks import lock_pattern_for_transaction


class LineageTransaction:
    def __init__(
        self, conn: asyncpg.Connection, graph: ModelLineageGraph, store: NodeLineageStoreEffect
    ) -> None:
        self.conn = conn
        self.graph = graph
        self.store = store
        # The patterns whose part of the graph this transaction may have changed (an ordered set).
        self.touched: dict[str, None] = {}
        self._locked: set[str] = set()

    async def _touch(self, *version_ids: str, pattern_id: str | None = None) -> None:
        """Note and lock the patterns of the versions the graph holds (before changing them)."""
        nodes = self.graph.graph.nodes
        patterns = [nodes[vid]["pattern_id"] for vid in version_ids if vid in nodes]
        for pattern in [*patterns, *([pattern_id] if pattern_id else [])]:
            self.touched[pattern] = None
            if pattern not in self._locked:
                await lock_pattern_for_transaction(self.conn, pattern)
                self._locked.add(pattern)

    async def add_version(
        self,
        version: ModelPatternVersion,
        *,
        parents: Sequence[Parent] = (),
        correlation_id: UUID | None = None,
    ) -> ModelPatternVersion:
        await self._touch(pattern_id=version.pattern_id)
        self.graph.add_version(version)
        for parent_id, relation in parents:
            self.graph.add_edge(
                parent_id, version.version_id, relation, correlation_id=correlation_id
            )
        stored = await self.store.create_version(
            self.conn, version, parents=parents, correlation_id=correlation_id
        )
        self.graph.graph.nodes[version.version_id]["created_at"] = stored.created_at
        return stored

    async def add_edge(
        self,
        parent_id: str,
        child_id: str,
        relation: EnumLineageRelation,
        *,
        correlation_id: UUID | None = None,
    ) -> None:
        await self._touch(parent_id, child_id)
        self.graph.add_edge(parent_id, child_id, relation, correlation_id=correlation_id)
        await self.store.add_edge(
            self.conn, parent_id, child_id, relation, correlation_id=correlation_id
        )

    async def set_status(self, version_id: str, status: EnumVersionStatus) -> None:
        await self._touch(version_id)
        self.graph.set_status(version_id, status)
        await self.store.set_status(self.conn, version_id, status)

    async def reload_touched(self) -> None:
        """Put the database's copy of every touched pattern into the graph."""
        for pattern_id in self.touched:
            self.graph.replace_pattern(
                pattern_id, await self.store.load_pattern(self.conn, pattern_id)
            )


@asynccontextmanager
async def lineage_transaction(
    conn: asyncpg.Connection,
    graph: ModelLineageGraph,
    store: NodeLineageStoreEffect | None = None,
) -> AsyncIterator[LineageTransaction]:
    """``async with lineage_transaction(conn, graph) as tx: await tx.add_version(...)``

    It must own the transaction: inside an outer one, its commit would only release a
    savepoint, and a reload after a failure would read changes the outer transaction may still
    roll back, so the graph could keep what the database drops. Refused with ``ValueError``.
    """
    if conn.is_in_transaction():
        raise ValueError(
            "lineage_transaction must own the transaction: call it outside conn.transaction()"
        )
    tx = LineageTransaction(conn, graph, store or NodeLineageStoreEffect())
    try:
        async with conn.transaction():
            yield tx
    except BaseException as failure:
        # Rolled back by now (the block raised, or the commit failed).
        try:
            await tx.reload_touched()
        except Exception as reload_failure:
            failure.add_note(
                f"the lineage graph could not be reloaded after the rollback and may differ "
                f"from the database for {sorted(tx.touched)}: {reload_failure!r}"
            )
        raise
