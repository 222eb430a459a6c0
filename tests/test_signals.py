"""SIGTERM (what cron and Kubernetes send) and SIGINT stop a real CLI process cleanly: the
running command is cancelled, its transaction rolls back, the process exits 143 / 130 within
10 s with one line on stderr, and nothing it was writing is stored."""

from __future__ import annotations

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
from tests.polling import until

ROWS = 300_000  # a COPY of some seconds: long enough to be caught in the act
APP = "feedback-loop-signal-test"


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


async def _copy_running(pool: asyncpg.Pool) -> bool:
    """The CLI's session (named by its DSN's application_name) is in the middle of a COPY."""
    busy = await pool.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 "
        "AND state = 'active' AND query ILIKE 'COPY%'",
        APP,
    )
    return bool(busy)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
async def test_a_signal_mid_ingest_rolls_back_and_exits(
    signum: signal.Signals, code: int, big_file: Path, db_dsn: str, pool: asyncpg.Pool
) -> None:
    async with FeedbackLoopService(pool=pool) as service:
        await service.register("sig", {})  # rows of unregistered patterns are refused
    dsn = f"{db_dsn}&application_name={APP}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "nodes.adapters.cli.main", "--dsn", dsn, "ingest", str(big_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        await until(lambda: _copy_running(pool), timeout_s=60)
        process.send_signal(signum)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == code, err
    assert out == "" and err == f"error: interrupted by {signum.name}\n"
    assert await pool.fetchval("SELECT count(*) FROM hook_executions") == 0
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", APP
        )
        == 0
    )
