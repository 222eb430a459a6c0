"""``feedback-loop db doctor [--fix]`` on real state: a stale server (a real postgres, and a
pid file naming a process that is not one), runs left ``running`` by a session that died,
an edited migration, pending migrations."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from uuid import UUID

import asyncpg
import pytest

from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from nodes.adapters.cli.main import main
from nodes.effect.node_run_ledger_effect import NodeRunLedgerEffect
from nodes.storage.embedded import stop_embedded_server
from nodes.storage.locks import lock_pattern_for_session
from nodes.storage.migrate import load_migrations
from nodes.storage.pool import create_pool
from tests.pg_server import traversable_temp_dir

HEALTHY = (
    "healthy: no stale server, no abandoned runs, schema up to date, buckets sum each "
    "objective's reward"
)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The embedded data dir the doctor inspects (the database itself comes from --dsn)."""
    path = tmp_path / "pg18"
    path.mkdir()
    monkeypatch.setenv("FEEDBACK_LOOP_DATA_DIR", str(path))
    return path


async def doctor(
    dsn: str, capsys: pytest.CaptureFixture[str], *flags: str
) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["--dsn", dsn, "db", "doctor", *flags])
    out, err = capsys.readouterr()
    assert err == "", err
    return code, out.splitlines()


@pytest.mark.usefixtures("data_dir")
async def test_a_healthy_database_exits_0(db_dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await doctor(db_dsn, capsys) == (0, [HEALTHY])
    assert await doctor(db_dsn, capsys, "--fix") == (0, [HEALTHY])


# -------------------------------------------------------------------- abandoned runs
@pytest.fixture
async def dead_run(db_dsn: str, pool: asyncpg.Pool) -> AsyncIterator[UUID]:
    """A run opened by the run ledger, whose session then died (its backend terminated, as
    when the process is killed): the row stays ``running``, the pattern's lock is free."""
    doomed = await create_pool(db_dsn, min_size=1, max_size=1)
    ledger = NodeRunLedgerEffect()
    contract = ModelFeedbackLoopInput(pattern_id="dead")
    try:
        async with doomed.acquire() as conn:
            assert await lock_pattern_for_session(conn, "dead", timeout_ms=1000)
            await ledger.open(conn, contract)
            await pool.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
            yield contract.correlation_id
    finally:
        doomed.terminate()


@pytest.fixture
async def live_run(pool: asyncpg.Pool) -> AsyncIterator[UUID]:
    """A run in progress: its session holds the pattern's lock; the doctor leaves it alone."""
    ledger = NodeRunLedgerEffect()
    contract = ModelFeedbackLoopInput(pattern_id="live")
    async with pool.acquire() as conn, ledger.hold_pattern(conn, "live", contract.correlation_id):
        await ledger.open(conn, contract)
        yield contract.correlation_id


@pytest.mark.usefixtures("data_dir")
async def test_abandoned_runs_are_found_and_marked_but_live_ones_left_alone(
    db_dsn: str,
    pool: asyncpg.Pool,
    capsys: pytest.CaptureFixture[str],
    dead_run: UUID,
    live_run: UUID,
) -> None:
    code, lines = await doctor(db_dsn, capsys)
    assert code == 1 and len(lines) == 2, lines
    assert lines[0].startswith(f"abandoned run: dead run {dead_run} attempt 1, started ")
    assert lines[0].endswith(", left running by a dead session: --fix marks it abandoned")
    assert lines[1] == "1 problem(s): 0 fixed, 1 left"

    code, lines = await doctor(db_dsn, capsys, "--fix")
    assert code == 0 and lines[0].endswith(": marked abandoned")
    assert lines[1] == "1 problem(s): 1 fixed, 0 left"
    statuses = dict(await pool.fetch("SELECT correlation_id, status FROM loop_runs"))
    assert statuses == {dead_run: "abandoned", live_run: "running"}
    assert await doctor(db_dsn, capsys) == (0, [HEALTHY])


# ---------------------------------------------------------------------- schema drift
@pytest.mark.usefixtures("data_dir")
async def test_an_edited_migration_is_reported_and_never_fixed(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    await pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 3")
    name = next(f"{m.version:04d}_{m.name}" for m in load_migrations() if m.version == 3)
    changed = (
        f"changed migration: {name} was edited after it was applied (checksum differs): "
        "never fixed automatically: restore the shipped file, or write a new migration"
    )
    assert await doctor(db_dsn, capsys) == (1, [changed, "1 problem(s): 0 fixed, 1 left"])
    assert await doctor(db_dsn, capsys, "--fix") == (1, [changed, "1 problem(s): 0 fixed, 1 left"])
    assert await pool.fetchval("SELECT checksum FROM schema_migrations WHERE version = 3") == (
        "edited"
    )


@pytest.mark.usefixtures("data_dir")
async def test_pending_migrations_are_applied_by_fix(
    empty_db_dsn: str, capsys: pytest.CaptureFixture[str]
) -> None:
    names = [f"{m.version:04d}_{m.name}" for m in load_migrations()]
    code, lines = await doctor(empty_db_dsn, capsys)
    assert code == 1
    assert lines == [
        *(f"pending migration: {n}: --fix applies it (feedback-loop db upgrade)" for n in names),
        f"{len(names)} problem(s): 0 fixed, {len(names)} left",
    ]
    code, lines = await doctor(empty_db_dsn, capsys, "--fix")
    assert code == 0
    assert lines == [
        *(f"pending migration: {n}: applied" for n in names),
        f"{len(names)} problem(s): {len(names)} fixed, 0 left",
    ]
    assert await doctor(empty_db_dsn, capsys) == (0, [HEALTHY])


async def test_the_embedded_database_is_migrated_as_on_first_use(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DSN: a fresh embedded database is migrated by every command (the runtime's policy),
    so its pending migrations are no finding for the doctor either."""
    with traversable_temp_dir("feedback-loop-test-doctor-") as base:
        monkeypatch.setenv("FEEDBACK_LOOP_DATA_DIR", str(base / "pg"))
        monkeypatch.setenv("FEEDBACK_LOOP_RUNTIME_DIR", str(base / "runtime"))
        monkeypatch.delenv("FEEDBACK_LOOP_DSN", raising=False)
        try:
            capsys.readouterr()
            assert await asyncio.to_thread(main, ["db", "doctor"]) == 0
            assert capsys.readouterr().out.splitlines() == [HEALTHY]
            assert await asyncio.to_thread(main, ["db", "status"]) == 0
            assert capsys.readouterr().out.splitlines()[-1].endswith(" applied, 0 pending")
        finally:
            await asyncio.to_thread(stop_embedded_server, base / "pg")


@pytest.mark.usefixtures("data_dir")
async def test_an_edited_migration_blocks_applying_pending_ones(
    db_dsn: str, pool: asyncpg.Pool, capsys: pytest.CaptureFixture[str]
) -> None:
    last = load_migrations()[-1]
    await pool.execute("DELETE FROM schema_migrations WHERE version = $1", last.version)
    await pool.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")
    code, lines = await doctor(db_dsn, capsys, "--fix")
    assert code == 1 and len(lines) == 3
    assert lines[1] == (
        f"pending migration: {last.version:04d}_{last.name}: "
        "not applied: a changed migration blocks every upgrade"
    )


# ------------------------------------------------------------------- stale servers
@pytest.fixture
def stranger() -> Iterator[subprocess.Popen[bytes]]:
    """A live process of ours that is not a postgres server."""
    process = subprocess.Popen(["sleep", "600"])
    try:
        yield process
    finally:
        process.kill()
        process.wait()


def _dead_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def _pid_file(data_dir: Path, pid: int, *, handles: list[int]) -> None:
    """What a server leaves: postmaster.pid (pid, data dir, ...), and the pids using it."""
    (data_dir / "postmaster.pid").write_text(f"{pid}\n{data_dir}\n1700000000\n5432\n")
    (data_dir / ".handle_pids.json").write_text(json.dumps(handles))


async def test_a_server_with_a_live_handle_is_not_stale(
    db_dsn: str,
    data_dir: Path,
    stranger: subprocess.Popen[bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _pid_file(data_dir, stranger.pid, handles=[_dead_pid(), os.getpid()])
    assert await doctor(db_dsn, capsys) == (0, [HEALTHY])


async def test_a_pid_file_naming_another_program_is_no_server_and_never_signalled(
    db_dsn: str,
    data_dir: Path,
    stranger: subprocess.Popen[bytes],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A server killed without cleanup leaves ``postmaster.pid``; its pid may since belong to
    any process, which --fix must not stop."""
    _pid_file(data_dir, stranger.pid, handles=[_dead_pid()])
    assert await doctor(db_dsn, capsys) == (0, [HEALTHY])
    assert await doctor(db_dsn, capsys, "--fix") == (0, [HEALTHY])
    assert stranger.poll() is None, "the doctor signalled a process that is not a postgres server"


def _postgres_bin() -> Path:
    for initdb in sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), reverse=True):
        return initdb.parent
    found = shutil.which("initdb")
    if found is None:
        pytest.skip("no PostgreSQL binaries (initdb, pg_ctl) to start a real server with")
    return Path(found).parent


@pytest.fixture
def orphan_server() -> Iterator[Path]:
    """A real postgres left running on its data dir with nobody registered as using it: what
    a process killed with SIGKILL leaves behind. Runs as ``nobody`` when we are root."""
    bin_dir = _postgres_bin()
    as_root = os.geteuid() == 0
    run_as: dict[str, str] = {"user": "nobody", "group": "nogroup"} if as_root else {}
    base = Path(tempfile.mkdtemp(prefix="feedback-loop-doctor-"))
    data = base / "data"
    if as_root:
        base.chmod(0o755)
        shutil.chown(base, "nobody", "nogroup")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C"}

    def pg(program: str, *args: str) -> None:
        subprocess.run(
            [str(bin_dir / program), *args],
            check=True,
            capture_output=True,
            env=env,
            **run_as,  # type: ignore[call-overload]
        )

    try:
        pg("initdb", "-D", str(data), "-A", "trust", "--no-sync")
        options = f"-c listen_addresses='' -k {base}"
        pg("pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o", options, "start")
        yield data
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            env=env,
            check=False,
            **run_as,  # type: ignore[call-overload]
        )
        shutil.rmtree(base, ignore_errors=True)


async def test_fix_stops_a_real_stale_server_and_only_its_own(
    db_dsn: str,
    data_dir: Path,
    orphan_server: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    postmaster = int((orphan_server / "postmaster.pid").read_text().split()[0])
    # A pid file elsewhere naming that real postgres: not the server of this data dir.
    _pid_file(data_dir, postmaster, handles=[_dead_pid()])
    assert await doctor(db_dsn, capsys, "--fix") == (0, [HEALTHY])
    assert (orphan_server / "postmaster.pid").exists()
    # Its own data dir: reported, then stopped (fast shutdown), its pid file gone.
    monkeypatch.setenv("FEEDBACK_LOOP_DATA_DIR", str(orphan_server))
    problem = (
        f"stale server: postmaster {postmaster} serves {orphan_server}, "
        "and no process using it is alive"
    )
    assert await doctor(db_dsn, capsys) == (
        1,
        [
            f"{problem}: --fix stops it (else the next command using it stops it when done)",
            "1 problem(s): 0 fixed, 1 left",
        ],
    )
    assert await doctor(db_dsn, capsys, "--fix") == (
        0,
        [f"{problem}: stopped", "1 problem(s): 1 fixed, 0 left"],
    )
    assert not (orphan_server / "postmaster.pid").exists()
    assert await doctor(db_dsn, capsys) == (0, [HEALTHY])
