"""Deterministic traffic allocation: the same (pattern, unit) always gets the same version.

A stable 64-bit hash of (pattern_id, unit_key) is mapped to [0, 1) and looked up in the
cumulative traffic weights of the pattern's versions (ordered by version id), so the answer is
identical across processes, machines and restarts, and costs one hash and one bisect.
"""

from __future__ import annotations

import bisect
import hashlib
from functools import cached_property
from itertools import accumulate

from pydantic import BaseModel, ConfigDict, Field

_SCALE = float(2**64)


def _hash64(text: str) -> int:
    """Stable forever (blake2b is not salted per process, unlike hash()); unsigned 64 bits."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def unit_position(pattern_id: str, unit_key: str) -> float:
    """Uniform in [0, 1), the same in every process, machine and restart."""
    return _hash64(f"{pattern_id}\x1f{unit_key}") / _SCALE


def unit_hash(pattern_id: str, unit_key: str) -> int:
    """The unit as a signed 64-bit key (PostgreSQL bigint), for counting distinct units."""
    return _hash64(f"{pattern_id}\x1f{unit_key}") - 2**63


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

    @cached_property
    def fingerprint(self) -> int:
        """The split as a signed 64-bit key: equal for equal splits, so distinct units can be
        counted per split (a sample-ratio test needs one set of expected shares)."""
        parts = ",".join(f"{v}={b!r}" for v, b in zip(self.version_ids, self.bounds, strict=True))
        return _hash64(f"{self.pattern_id}\x1f{parts}") - 2**63

    def choose(self, unit_key: str) -> str:
        position = unit_position(self.pattern_id, unit_key)
        return self.version_ids[bisect.bisect_right(self.bounds, position)]
