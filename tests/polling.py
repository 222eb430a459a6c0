"""Waiting on another session without sleeping blind: poll a condition until a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable


async def until(
    check: Callable[[], Awaitable[bool]], *, timeout_s: float = 10.0, interval_s: float = 0.01
) -> None:
    """Returns once ``check()`` is true; fails the test when ``timeout_s`` passes first."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


def blocked_on_a_lock(
    conn_pid: int, pool_fetchval: Callable[..., Awaitable[object]]
) -> Callable[[], Awaitable[bool]]:
    """A check: the backend ``conn_pid`` is waiting for a lock."""

    async def check() -> bool:
        waiting = await pool_fetchval(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", conn_pid
        )
        return waiting is True

    return check
