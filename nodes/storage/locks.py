"""The advisory-lock key of a pattern: every writer of a pattern's versions takes it."""

from __future__ import annotations

import hashlib

_NAMESPACE = b"onex-feedback-loop:pattern:"


def pattern_lock_key(pattern_id: str) -> int:
    """A signed 64-bit key (what ``pg_advisory_lock(bigint)`` takes), stable across processes
    and releases, so the loop, the CLI and a rollback in other processes all serialise."""
    digest = hashlib.blake2b(_NAMESPACE + pattern_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)
