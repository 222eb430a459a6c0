"""SIGTERM (what cron and Kubernetes send) and SIGINT stop a real CLI process cleanly: the
running command is cancelled, its transaction rolls back, the process exits 143 / 130 within
10 s with one line on stderr, nothing it was writing is stored, a loop run it was in the middle
of is recorded ``abandoned`` (not left ``running``), and its handle on the embedded server is
released (the last one out stops it)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from nodes.service import FeedbackLoopService
from nodes.storage import embedded_cluster as cluster
from nodes.storage.embedded import stop_embedded_server
from tests.pg_server import traversable_temp_dir
from tests.polling import until

ROWS = 300_000  # a COPY of some seconds: long enough to be caught in the act
APP = "feedback-loop-signal-test"
CLI = [sys.executable, "-m", "nodes.adapters.cli.main"]


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("signals") / "big.jsonl"
    start = datetime.now(UTC) - timedelta(days=1)
    with path.open("w") as out:
        for i in range(ROWS):
            row = {
                "execution_id": str(uuid.uuid4()),
                "pattern_id": "sig",
                "started_at": (start + timedelta(milliseconds=i)).isoformat(),
                "duration_ms": 12.5,
                "status": "success",
            }
            out.write(json.dumps(row) + "\n")
    return path


async def _copy_running(db: asyncpg.Pool | asyncpg.Connection) -> bool:
    """Another session of this database is in the middle of a COPY: the CLI's ingest."""
    busy = await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state = 'active' AND query ILIKE 'COPY%'"
    )
    return bool(busy)


def _spawn(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _stop(process: subprocess.Popen[str], signum: signal.Signals) -> tuple[str, str]:
    """Send ``signum``; the process must be gone within 10 s (killed otherwise)."""
    try:
        process.send_signal(signum)
        return process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
    return env | extra


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_signal_mid_ingest_rolls_back_and_exits(
    signum: signal.Signals, code: int, big_file: Path, db_dsn: str, pool: asyncpg.Pool
) -> None:
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("sig", {})  # rows of unregistered patterns are refused
    dsn = f"{db_dsn}&application_name={APP}"
    process = _spawn(_environment(), "--dsn", dsn, "ingest", str(big_file))
    try:
        await until(lambda: _copy_running(pool), timeout_s=60)
    finally:
        out, err = _stop(process, signum)
    assert process.returncode == code, err
    assert out == "" and err == f"error: interrupted by {signum.name}\n"
    assert await pool.fetchval("SELECT count(*) FROM hook_executions") == 0
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", APP
        )
        == 0
    )


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_signal_mid_run_abandons_its_attempt(
    signum: signal.Signals, code: int, db_dsn: str, pool: asyncpg.Pool
) -> None:
    """``run`` caught mid-collect (its query waits on a lock the test holds on
    ``hook_executions``): once the process has exited, its ``loop_runs`` row is ``abandoned``
    and none is ``running``, without waiting for the pattern's next run or ``db doctor``."""
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("sig", {})

    async def collecting() -> bool:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
            "AND wait_event_type = 'Lock' AND query ILIKE '%execution%'",
            APP,
        )
        running = await pool.fetchval("SELECT count(*) FROM loop_runs WHERE status = 'running'")
        return bool(waiting) and running == 1

    dsn = f"{db_dsn}&application_name={APP}"
    async with pool.acquire() as blocker, blocker.transaction():
        await blocker.execute("LOCK TABLE hook_executions IN ACCESS EXCLUSIVE MODE")
        process = _spawn(_environment(), "--dsn", dsn, "run", "--pattern", "sig")
        try:
            await until(collecting, timeout_s=60)
        finally:
            out, err = _stop(process, signum)
    assert process.returncode == code, err
    assert out == "" and err == f"error: interrupted by {signum.name}\n"
    statuses = await pool.fetch("SELECT status, finished_at FROM loop_runs")
    assert [r["status"] for r in statuses] == ["abandoned"] and statuses[0]["finished_at"]


async def test_sigterm_releases_the_embedded_server(big_file: Path) -> None:
    """No DSN: the CLI starts the embedded server and is its only user, so once SIGTERM has
    cancelled the ingest and the service is closed, the server stops."""
    with traversable_temp_dir("feedback-loop-test-signals-") as base:
        data = base / "pg"
        env = _environment(
            FEEDBACK_LOOP_DATA_DIR=str(data), FEEDBACK_LOOP_RUNTIME_DIR=str(base / "runtime")
        )
        registered = subprocess.run(
            [*CLI, "register", "sig", "--config", "{}"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
            check=False,
        )
        assert registered.returncode == 0, registered.stderr

        async def copying() -> bool:
            """Asked of the server directly: a handle of ours would keep it running."""
            postmaster = cluster.running_postmaster(data)
            if postmaster is None or postmaster.status != "ready":
                return False
            conn = await asyncpg.connect(cluster.dsn_for(postmaster, data))
            try:
                return await _copy_running(conn)
            finally:
                await conn.close()

        process = _spawn(env, "ingest", str(big_file))
        try:
            try:
                await until(copying, timeout_s=120)
            finally:
                _, err = _stop(process, signal.SIGTERM)
            assert (process.returncode, err) == (143, "error: interrupted by SIGTERM\n")
            assert not (data / "postmaster.pid").exists(), "the server outlived its last user"
        finally:
            await asyncio.to_thread(stop_embedded_server, data)
