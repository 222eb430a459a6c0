"""Which version serves a unit: the pattern's allocation, cached, read from PostgreSQL on a miss.

Allocations are cached per pattern; the cache is dropped for a pattern when its versions change
(a NOTIFY on the versions channel, sent in the changing transaction, heard on the listening
connection the caller hands to ``listen``) and, as a fallback for missed notifications, after
``ttl_s`` seconds. ``cached`` costs no I/O, so the request path touches the database only on a
miss.
"""

from __future__ import annotations

import time

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from contracts.model_traffic_allocation import ModelAllocationRequest, ModelTrafficAllocation
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.channels import VERSIONS_CHANGED_CHANNEL


class NodeTrafficAllocatorEffect:
    def __init__(self, lineage_store: NodeLineageStoreEffect, *, ttl_s: float = 60.0) -> None:
        self._lineage = lineage_store
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, ModelTrafficAllocation]] = {}

    async def listen(self, conn: asyncpg.Connection) -> None:
        """Drop a pattern's cached allocation whenever its versions change."""
        await conn.add_listener(VERSIONS_CHANGED_CHANNEL, self._on_change)

    async def unlisten(self, conn: asyncpg.Connection) -> None:
        await conn.remove_listener(VERSIONS_CHANGED_CHANNEL, self._on_change)

    def _on_change(self, _conn: object, _pid: int, _channel: str, pattern_id: str) -> None:
        self._cache.pop(pattern_id, None)

    def invalidate(self, pattern_id: str | None = None) -> None:
        if pattern_id is None:
            self._cache.clear()
        else:
            self._cache.pop(pattern_id, None)

    def cached(self, pattern_id: str) -> ModelTrafficAllocation | None:
        hit = self._cache.get(pattern_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        return None

    async def load(
        self, conn: asyncpg.Connection, request: ModelAllocationRequest
    ) -> ModelTrafficAllocation:
        """The pattern's current allocation, read and cached."""
        pattern_id = request.pattern_id
        versions = await self._lineage.list_versions(conn, pattern_id)
        weights = {v.version_id: v.traffic_weight for v in versions if v.traffic_weight > 0}
        if not weights:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"pattern {pattern_id!r} has no version receiving traffic: register it first",
            )
        allocation = ModelTrafficAllocation.from_weights(pattern_id, weights)
        self._cache[pattern_id] = (time.monotonic(), allocation)
        return allocation
