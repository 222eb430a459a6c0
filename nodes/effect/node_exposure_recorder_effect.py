"""Exposures as assign() hands out versions: kept in memory, written in batches.

``record`` costs no I/O (a set insert and a counter), so the request path stays as fast as a
cached assign; ``flush`` writes what accumulated in one transaction. A buffer lost with its
process (kill -9) loses a few seconds of exposures from every arm alike, and the checks read
only closed periods, so it cannot make one arm look short. Units are hashed (64 bits), never
stored as given.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from datetime import UTC, datetime

import asyncpg

from contracts.model_exposure import ModelExposureFlush, ModelExposureFlushed
from contracts.model_traffic_allocation import unit_hash
from nodes.storage import sql_exposures
from nodes.storage.sql_exposures import EXPOSURE_BUCKET_S

_RECENT_LIMIT = 200_000  # units remembered as already written, to skip re-sending them


def _bucket(at: datetime) -> datetime:
    seconds = int(at.timestamp()) // EXPOSURE_BUCKET_S * EXPOSURE_BUCKET_S
    return datetime.fromtimestamp(seconds, UTC)


class NodeExposureRecorderEffect:
    def __init__(self, *, max_buffered: int = 50_000) -> None:
        self.max_buffered = max_buffered
        self._units: dict[tuple[str, int, int], tuple[str, datetime]] = {}
        self._calls: Counter[tuple[str, str, datetime]] = Counter()
        self._recent: OrderedDict[tuple[str, int, int], None] = OrderedDict()

    @property
    def pending(self) -> int:
        return len(self._units) + len(self._calls)

    @property
    def full(self) -> bool:
        return self.pending >= self.max_buffered

    def record(
        self,
        pattern_id: str,
        allocation: int,
        unit_key: str,
        version_id: str,
        at: datetime | None = None,
    ) -> None:
        when = at or datetime.now(UTC)
        key = (pattern_id, allocation, unit_hash(pattern_id, unit_key))
        if key not in self._units and key not in self._recent:
            self._units[key] = (version_id, when)
        self._calls[(pattern_id, version_id, _bucket(when))] += 1

    async def flush(
        self, conn: asyncpg.Connection, request: ModelExposureFlush
    ) -> ModelExposureFlushed:
        """Write and forget what is buffered; on failure the batch is put back (counts add up,
        so nothing is lost or doubled by a retry of a batch that did not commit)."""
        units, calls = self._units, self._calls
        self._units, self._calls = {}, Counter()
        if not units and not calls:
            return ModelExposureFlushed(units=0, buckets=0)
        try:
            await sql_exposures.write_batch(
                conn,
                [(p, a, u, v, at) for (p, a, u), (v, at) in units.items()],
                [(p, v, b, n) for (p, v, b), n in calls.items()],
            )
        except BaseException:
            for key, value in units.items():
                self._units.setdefault(key, value)
            self._calls.update(calls)
            raise
        self._recent.update(dict.fromkeys(units))
        while len(self._recent) > _RECENT_LIMIT:  # oldest first, O(1) each
            self._recent.popitem(last=False)
        return ModelExposureFlushed(units=len(units), buckets=len(calls))
