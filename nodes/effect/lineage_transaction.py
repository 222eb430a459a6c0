"""Change the in-memory graph and Postgres together, or neither.

Each change is validated and applied to the graph first (so a broken invariant is refused
before any SQL), then written on the caller's connection. If anything inside the block
raises, or the commit itself fails, Postgres rolls back and the graph's undo journal puts the
graph back as it was.
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


class LineageTransaction:
    def __init__(
        self, conn: asyncpg.Connection, graph: ModelLineageGraph, store: NodeLineageStoreEffect
    ) -> None:
        self.conn = conn
        self.graph = graph
        self.store = store

    async def add_version(
        self,
        version: ModelPatternVersion,
        *,
        parents: Sequence[Parent] = (),
        correlation_id: UUID | None = None,
    ) -> ModelPatternVersion:
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
        self.graph.add_edge(parent_id, child_id, relation, correlation_id=correlation_id)
        await self.store.add_edge(
            self.conn, parent_id, child_id, relation, correlation_id=correlation_id
        )

    async def set_status(self, version_id: str, status: EnumVersionStatus) -> None:
        self.graph.set_status(version_id, status)
        await self.store.set_status(self.conn, version_id, status)


@asynccontextmanager
async def lineage_transaction(
    conn: asyncpg.Connection,
    graph: ModelLineageGraph,
    store: NodeLineageStoreEffect | None = None,
) -> AsyncIterator[LineageTransaction]:
    """``async with lineage_transaction(conn, graph) as tx: await tx.add_version(...)``"""
    with graph.atomic():
        async with conn.transaction():
            yield LineageTransaction(conn, graph, store or NodeLineageStoreEffect())
