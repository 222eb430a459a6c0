"""The Q-learning router's table in PostgreSQL: one row per (router, state, action) with its
Q-value, how many updates made it and when it last changed."""

from __future__ import annotations

import asyncpg

from contracts.model_routing import ModelQEntry, ModelQTableWrite, ModelQTableWritten
from nodes.storage import sql_routing


class NodeQTableStoreEffect:
    async def write(
        self, conn: asyncpg.Connection, request: ModelQTableWrite
    ) -> ModelQTableWritten:
        """Store the entries' Q-values and add their update counts."""
        if request.entries:
            await sql_routing.upsert_q_values(
                conn,
                request.router,
                [e.state for e in request.entries],
                [e.action for e in request.entries],
                [e.q_value for e in request.entries],
                [e.update_count for e in request.entries],
            )
        return ModelQTableWritten(rows=len(request.entries))

    async def replace(
        self, conn: asyncpg.Connection, request: ModelQTableWrite
    ) -> ModelQTableWritten:
        """The router's whole table becomes ``entries`` (one transaction)."""
        async with conn.transaction():
            await sql_routing.delete_q_table(conn, request.router)
            return await self.write(conn, request)

    async def load(self, conn: asyncpg.Connection, router: str) -> list[ModelQEntry]:
        return [
            ModelQEntry(
                state=r["state"],
                action=r["action"],
                q_value=r["q_value"],
                update_count=r["update_count"],
            )
            for r in await sql_routing.q_table(conn, router)
        ]
