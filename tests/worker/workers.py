"""Worker processes for tests: the real CLI, with intervals short enough to need no sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import asyncpg

from contracts.model_schedule import ModelScheduleSetInput, ModelScheduleSpec
from nodes.service import FeedbackLoopService
from tests.factories import execution_rows

CLI = [sys.executable, "-m", "nodes.adapters.cli.main"]
HEARTBEAT_S = 1.0
FAST = ["--poll", "0.05", "--heartbeat", str(HEARTBEAT_S), "--retry-base", "0.05"]
# A slow median makes every first run propose a cache (an audit-logged write per run).
CONFIG = {"cache_enabled": False}


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}


def spawn_worker(dsn: str, name: str, *flags: str) -> subprocess.Popen[str]:
    """``feedback-loop worker``; its sessions carry ``application_name=name``."""
    return subprocess.Popen(
        [*CLI, "--dsn", f"{dsn}&application_name={name}", "worker", *FAST, *flags],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )


def stop(process: subprocess.Popen[str], signum: signal.Signals = signal.SIGTERM) -> str:
    """Send ``signum``; the process must be gone within 30 s. Returns its stderr."""
    try:
        process.send_signal(signum)
        _, err = process.communicate(timeout=30)
        return err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def exited(process: subprocess.Popen[str]) -> str:
    """Wait (30 s at most) for a process already signalled; returns its stderr."""
    try:
        _, err = process.communicate(timeout=30)
        return err
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def assert_stopped_by_sigterm(process: subprocess.Popen[str], err: str) -> None:
    """Exit 143 with the CLI's last line (warnings logged while draining may precede it)."""
    assert process.returncode == 143, err
    assert err.endswith("error: interrupted by SIGTERM\n"), err


@contextmanager
def workers(dsn: str, count: int, *flags: str) -> Iterator[list[subprocess.Popen[str]]]:
    """``count`` workers named w0, w1, ...; any still running afterwards is killed."""
    started = [spawn_worker(dsn, f"w{i}", *flags) for i in range(count)]
    try:
        yield started
    finally:
        for process in started:
            if process.poll() is None:
                process.kill()
                process.communicate()


async def scheduled_patterns(
    pool: asyncpg.Pool, count: int, *, every: timedelta = timedelta(days=1)
) -> list[str]:
    """``count`` registered patterns with 25 executions each, every one due now."""
    names = [f"s{i:04d}" for i in range(count)]
    async with FeedbackLoopService(pool=pool) as service:
        for name in names:
            await service.register(name, CONFIG)
        await service.ingest(
            [
                row
                for i, name in enumerate(names)
                for row in execution_rows(25, pattern_id=name, seed=i)
            ]
        )
        for name in names:
            await service.set_schedule(
                ModelScheduleSetInput(pattern_id=name, spec=ModelScheduleSpec(interval=every))
            )
    return names


async def backends(pool: asyncpg.Pool, name: str) -> int:
    """Sessions of the worker named ``name``."""
    count: int = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", name
    )
    return count
