"""``assign(pattern_id, unit_key) -> version_id`` for production code, on every request.

Allocations are cached per pattern; the cache is dropped for a pattern when the loop changes
its versions (a NOTIFY on ``feedback_loop_versions``, sent in the same transaction) and, as a
fallback for missed notifications, after ``ttl_s`` seconds.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.compute.allocation import Allocation
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.channels import VERSIONS_CHANGED_CHANNEL


class NodeTrafficAllocatorEffect:
    def __init__(self, pool: asyncpg.Pool, *, ttl_s: float = 60.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._lineage = NodeLineageStoreEffect()
        self._cache: dict[str, tuple[float, Allocation]] = {}
        self._listener: asyncpg.Connection | None = None
        self._listen_lock = asyncio.Lock()

    async def _listen(self) -> None:
        async with self._listen_lock:
            if self._listener is None:
                conn = await self._pool.acquire()
                await conn.add_listener(VERSIONS_CHANGED_CHANNEL, self._on_change)
                self._listener = conn

    def _on_change(self, _conn: object, _pid: int, _channel: str, pattern_id: str) -> None:
        self._cache.pop(pattern_id, None)

    def invalidate(self, pattern_id: str | None = None) -> None:
        if pattern_id is None:
            self._cache.clear()
        else:
            self._cache.pop(pattern_id, None)

    async def allocation(self, pattern_id: str) -> Allocation:
        cached = self._cache.get(pattern_id)
        if cached is not None and time.monotonic() - cached[0] < self._ttl_s:
            return cached[1]
        await self._listen()
        async with self._pool.acquire() as conn:
            versions = await self._lineage.list_versions(conn, pattern_id)
        weights = {v.version_id: v.traffic_weight for v in versions if v.traffic_weight > 0}
        if not weights:
            raise ModelOnexError(
                EnumErrorCode.NOT_FOUND,
                f"pattern {pattern_id!r} has no version receiving traffic: register it first",
            )
        allocation = Allocation.from_weights(pattern_id, weights)
        self._cache[pattern_id] = (time.monotonic(), allocation)
        return allocation

    async def assign(self, pattern_id: str, unit_key: str) -> str:
        """The version this unit (user, request, tenant ...) runs; stable while weights are."""
        return (await self.allocation(pattern_id)).choose(unit_key)

    async def close(self) -> None:
        if self._listener is not None:
            await self._listener.remove_listener(VERSIONS_CHANGED_CHANNEL, self._on_change)
            await self._pool.release(self._listener)
            self._listener = None
