"""Deterministic traffic allocation: the same (pattern, unit) always gets the same version.

A stable 64-bit hash of (pattern_id, unit_key) is mapped to [0, 1) and looked up in the
cumulative traffic weights of the pattern's versions (ordered by version id), so the answer is
identical across processes, machines and restarts, and costs one hash and one bisect.
"""

from __future__ import annotations

import bisect
import hashlib
from itertools import accumulate

from pydantic import BaseModel, ConfigDict, Field

_SCALE = float(2**64)


def unit_position(pattern_id: str, unit_key: str) -> float:
    """Uniform in [0, 1), stable forever (blake2b is not salted per process, unlike hash())."""
    digest = hashlib.blake2b(f"{pattern_id}\x1f{unit_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


class ModelAllocationRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str = Field(min_length=1)


class ModelTrafficAllocation(BaseModel):
    """A pattern's versions that receive traffic and where each one's slice ends."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str
    version_ids: tuple[str, ...]
    bounds: tuple[float, ...]

    @classmethod
    def from_weights(cls, pattern_id: str, weights: dict[str, float]) -> ModelTrafficAllocation:
        live = sorted((vid, w) for vid, w in weights.items() if w > 0)
        if not live:
            raise ValueError(f"pattern {pattern_id!r} has no version with traffic weight > 0")
        total = sum(w for _, w in live)
        bounds = [b / total for b in accumulate(w for _, w in live)]
        bounds[-1] = 1.0
        return cls(
            pattern_id=pattern_id, version_ids=tuple(v for v, _ in live), bounds=tuple(bounds)
        )

    def choose(self, unit_key: str) -> str:
        position = unit_position(self.pattern_id, unit_key)
        return self.version_ids[bisect.bisect_right(self.bounds, position)]
