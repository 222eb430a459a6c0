"""The embedded PostgreSQL: never changes the mode or owner of anything the tool did not create.

Root-only tests run the server as a throwaway system account (created by the code under test,
deleted afterwards), never the real ``pgserver``. Every parent of the binaries, the runtime dir
and the data dir is compared, mode and owner, before and after.
"""

from __future__ import annotations

import asyncio
import grp
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import pytest

from contracts.model_onex_error import ModelOnexError
from nodes.storage.embedded import (
    PG_MAJOR,
    EmbeddedPostgres,
    embedded_server_status,
    stop_embedded_server,
)
from nodes.storage.embedded_account import ensure_service_account, no_login_shell
from nodes.storage.embedded_runtime import install_runtime, wheel_install_dir
from tests.pg_server import traversable_temp_dir
from tests.polling import until

REPO = Path(__file__).resolve().parents[2]
root_only = pytest.mark.skipif(os.geteuid() != 0, reason="as root only")
Snapshot = dict[Path, tuple[int, int, int]]


def _throwaway_name() -> str:
    return f"fltest{uuid.uuid4().hex[:10]}"


def _delete_account(name: str) -> None:
    subprocess.run(["userdel", name], capture_output=True, check=False)
    try:
        grp.getgrnam(name)
    except KeyError:
        return
    subprocess.run(["groupdel", name], capture_output=True, check=False)


def _exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@pytest.fixture(scope="module")
def account() -> Iterator[str]:
    """A system account name the code under test creates on first use (as root)."""
    name = _throwaway_name()
    try:
        yield name
    finally:
        if os.geteuid() == 0:
            _delete_account(name)


def _parents(*paths: Path) -> Snapshot:
    """Mode (with type bits), uid and gid of every existing parent of ``paths`` up to /."""
    found: Snapshot = {}
    for path in paths:
        for parent in path.parents:
            if parent.exists():
                info = parent.stat()
                found[parent] = (info.st_mode, info.st_uid, info.st_gid)
    return found


def _tree(root: Path) -> Snapshot:
    """The same for ``root`` and everything under it (the wheel used to chmod it all)."""
    found: Snapshot = {}
    for path in [root, *root.rglob("*")]:
        info = path.lstat()
        found[path] = (info.st_mode, info.st_uid, info.st_gid)
    return found


@contextmanager
def _private_copy_of_the_wheel() -> Iterator[Path]:
    """The wheel's install tree in a venv-like layout under two 0700 directories."""
    outer = Path(tempfile.mkdtemp(prefix="feedback-loop-test-private-"))  # 0700
    try:
        private = outer / "private"
        private.mkdir(mode=0o700)
        site = private / "venv" / "lib" / "python3.11" / "site-packages"
        wheel = wheel_install_dir(PG_MAJOR)
        install = site / wheel.parent.name / wheel.name
        for part in ("bin", "lib", "share"):
            shutil.copytree(wheel / part, install / part, symlinks=True)
        libs = wheel.parent.parent / f"{wheel.parent.name}.libs"
        if libs.is_dir():
            shutil.copytree(libs, site / libs.name, symlinks=True)
        yield install
    finally:
        shutil.rmtree(outer, ignore_errors=True)


def _proc_ids(pid: int) -> tuple[int, list[int]]:
    """Effective uid and supplementary groups of a running process."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    uid = int(fields["Uid"].split()[1])
    return uid, [int(g) for g in fields["Groups"].split()]


async def _server_major(dsn: str) -> tuple[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("SELECT version()")
        number = await conn.fetchval("SELECT current_setting('server_version_num')::int")
    finally:
        await conn.close()
    return str(version), int(number) // 10000


@root_only
async def test_binaries_under_private_parents_run_from_a_copy_the_tool_owns(
    account: str,
) -> None:
    with (
        traversable_temp_dir("feedback-loop-test-embedded-") as base,
        _private_copy_of_the_wheel() as install,
    ):
        data, runtime = base / "pgdata", base / "runtime"
        before = _parents(install, data, runtime) | _tree(install)
        private, outer = install.parents[5], install.parents[6]
        assert (private.name, private.stat().st_mode & 0o777, outer.stat().st_mode & 0o777) == (
            "private",
            0o700,
            0o700,
        )
        server = EmbeddedPostgres(data, install_dir=install, runtime_dir=runtime, account=account)
        for _ in range(2):  # first start, then a restart from the same copy
            dsn = await server.start()
            try:
                version, major = await _server_major(dsn)
                assert major == PG_MAJOR and version.startswith(f"PostgreSQL {PG_MAJOR}.")
                pid = embedded_server_status(data).postmaster_pid
                assert pid is not None
                assert Path(os.readlink(f"/proc/{pid}/exe")).is_relative_to(runtime)
                uid, groups = _proc_ids(pid)
                assert uid == pwd.getpwnam(account).pw_uid and 0 not in groups
            finally:
                server.stop()
            assert not (data / "postmaster.pid").exists()
        assert len(list(runtime.iterdir())) == 1  # copied once, atomically (no staging left)
        assert (data.stat().st_mode & 0o777, data.stat().st_uid) == (0o700, uid)
        assert _parents(install, data, runtime) | _tree(install) == before
        assert pwd.getpwnam(account).pw_shell == no_login_shell()


@root_only
def test_processes_racing_to_copy_the_binaries_get_one_whole_tree(account: str) -> None:
    made = ensure_service_account(account)
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        runtime = base / "runtime"
        install = wheel_install_dir(PG_MAJOR)
        with ThreadPoolExecutor(4) as pool:
            bins = list(
                pool.map(lambda _: install_runtime(install, runtime, PG_MAJOR, made), range(4))
            )
        assert len(set(bins)) == 1 and (bins[0] / "postgres").is_file()
        (tree,) = runtime.iterdir()  # the losers' staging copies are gone
        assert bins[0].is_relative_to(tree)
        assert {stat.S_IMODE(p.stat().st_mode) for p in [tree, *tree.rglob("*")]} <= {
            0o755,
            0o644,
        }


@root_only
@pytest.mark.parametrize("below", ["pgdata", "deeper/pgdata"])
async def test_a_data_dir_under_private_parents_is_refused_in_one_line(below: str) -> None:
    name = _throwaway_name()
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        private = base / "private"
        private.mkdir(mode=0o700)
        data, runtime = private / below, base / "runtime"
        before = _parents(data, runtime)
        try:
            with pytest.raises(ModelOnexError) as refused:
                await EmbeddedPostgres(data, runtime_dir=runtime, account=name).start()
        finally:
            if _exists(name):
                _delete_account(name)
                pytest.fail("the refusal created the service account")
        assert str(refused.value) == (
            f"embedded PostgreSQL refuses data dir {data}: the server account {name} cannot "
            f"traverse {private} (mode 0700, owner root); set FEEDBACK_LOOP_DATA_DIR to a "
            "directory under parents every user can traverse (e.g. the default "
            "/var/lib/onex-feedback-loop/pg18) or run as a non-root user"
        )
        assert sorted(base.rglob("*")) == [private]  # nothing created
        assert _parents(data, runtime) == before

        env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDBACK_LOOP_")}
        env |= {"FEEDBACK_LOOP_DATA_DIR": str(data), "FEEDBACK_LOOP_RUNTIME_DIR": str(runtime)}
        done = subprocess.run(
            [sys.executable, "-m", "nodes.adapters.cli.main", "db", "status"],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            timeout=120,
            check=False,
        )
        assert done.returncode == 1 and done.stdout == ""
        (line,) = done.stderr.splitlines()
        assert line.startswith(f"error: embedded PostgreSQL refuses data dir {data}: ")
        assert f"cannot traverse {private} (mode 0700, owner root)" in line
        assert sorted(base.rglob("*")) == [private]
        assert _parents(data, runtime) == before


@root_only
async def test_a_runtime_dir_under_private_parents_is_refused_in_one_line() -> None:
    name = _throwaway_name()
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        private = base / "private"
        private.mkdir(mode=0o700)
        data, runtime = base / "pgdata", private / "runtime"
        before = _parents(data, runtime)
        try:
            with pytest.raises(ModelOnexError) as refused:
                await EmbeddedPostgres(data, runtime_dir=runtime, account=name).start()
        finally:
            if _exists(name):
                _delete_account(name)
                pytest.fail("the refusal created the service account")
        assert str(refused.value) == (
            f"embedded PostgreSQL cannot place its binaries in {runtime}: the server account "
            f"{name} cannot traverse {private} (mode 0700, owner root); set "
            "FEEDBACK_LOOP_RUNTIME_DIR to a directory under parents every user can traverse "
            "(e.g. the default /var/lib/onex-feedback-loop/runtime) or run as a non-root user"
        )
        assert sorted(base.rglob("*")) == [private]
        assert _parents(data, runtime) == before


@root_only
def test_the_service_account_cannot_log_in_and_an_old_one_only_loses_its_shell() -> None:
    fresh, old = _throwaway_name(), _throwaway_name()
    try:
        made = ensure_service_account(fresh)
        entry = pwd.getpwnam(fresh)
        assert entry.pw_shell == no_login_shell() and made.uid == entry.pw_uid
        assert entry.pw_uid < 1000 and not Path(entry.pw_dir).exists()  # system, no home

        # What earlier versions ran: useradd -s /bin/bash NAME.
        subprocess.run(["useradd", "-s", "/bin/bash", old], check=True, capture_output=True)
        passwd_before = pwd.getpwnam(old)
        group_before = grp.getgrgid(passwd_before.pw_gid)
        shadow_before = _shadow(old)
        ensure_service_account(old)
        passwd_after = pwd.getpwnam(old)
        assert passwd_after.pw_shell == no_login_shell()
        assert passwd_after[:6] == passwd_before[:6]  # name, password, uid, gid, gecos, home
        assert grp.getgrgid(passwd_after.pw_gid) == group_before
        assert _shadow(old) == shadow_before
        ensure_service_account(old)  # already right: nothing to do
        assert pwd.getpwnam(old) == passwd_after
    finally:
        _delete_account(fresh)
        _delete_account(old)


def _shadow(name: str) -> str:
    (line,) = [
        line for line in Path("/etc/shadow").read_text().splitlines() if line.split(":")[0] == name
    ]
    return line


_CHILD = """
import asyncio, sys
from pathlib import Path
from nodes.runtime.logging_setup import configure_logging
from nodes.storage.embedded import EmbeddedPostgres
configure_logging(json_output=True, level="WARNING")  # stdout carries the DSN alone
data, runtime, account, ending = sys.argv[1:]
server = EmbeddedPostgres(Path(data), runtime_dir=Path(runtime), account=account)
print(asyncio.run(server.start()), flush=True)
sys.stdin.readline()
if ending == "stop":
    server.stop()
# else: released at interpreter exit
"""


def _spawn(
    data: Path, runtime: Path, account: str, ending: str
) -> tuple[subprocess.Popen[str], str]:
    """Another process holding a handle on ``data``; returns it and the DSN it got."""
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(data), str(runtime), account, ending],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    assert child.stdout is not None
    dsn = child.stdout.readline().strip()
    if not dsn:
        child.kill()
        raise AssertionError(child.communicate()[1])
    return child, dsn


async def _no_postmaster_pid(data: Path) -> None:
    async def gone() -> bool:
        return not (data / "postmaster.pid").exists()

    await until(gone, timeout_s=30)


async def test_two_processes_share_one_server_and_the_last_one_out_stops_it(
    account: str,
) -> None:
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        data, runtime = base / "pgdata", base / "runtime"
        here = EmbeddedPostgres(data, runtime_dir=runtime, account=account)
        dsn = await here.start()
        child, child_dsn = await asyncio.to_thread(_spawn, data, runtime, account, "exit")
        try:
            assert child_dsn == dsn
            status = embedded_server_status(data)
            assert status.postmaster_pid is not None and not status.stale
            assert sorted(status.live_handle_pids) == sorted([os.getpid(), child.pid])
            here.stop()
            assert embedded_server_status(data).postmaster_pid == status.postmaster_pid
            assert (await _server_major(child_dsn))[1] == PG_MAJOR  # still serving the child
            child.communicate("go\n", timeout=60)  # the child exits without calling stop()
            assert child.returncode == 0
            await _no_postmaster_pid(data)
            assert embedded_server_status(data).postmaster_pid is None
        finally:
            here.stop()
            child.kill()
            stop_embedded_server(data)


async def test_a_server_whose_users_died_is_stale_reused_then_stopped(account: str) -> None:
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        data, runtime = base / "pgdata", base / "runtime"
        child, dsn = await asyncio.to_thread(_spawn, data, runtime, account, "stop")
        child.kill()
        child.wait()
        try:
            stale = embedded_server_status(data)
            assert stale.stale and stale.live_handle_pids == ()
            # The next user reuses the server and forgets the dead handle...
            here = EmbeddedPostgres(data, runtime_dir=runtime, account=account)
            assert await here.start() == dsn
            status = embedded_server_status(data)
            assert status.postmaster_pid == stale.postmaster_pid
            assert status.live_handle_pids == (os.getpid(),)
            # ...so its release stops it.
            here.stop()
            assert not (data / "postmaster.pid").exists()

            # The doctor's way out for a stale server: stop it directly.
            child, dsn = await asyncio.to_thread(_spawn, data, runtime, account, "stop")
            child.kill()
            child.wait()
            assert embedded_server_status(data).stale
            assert stop_embedded_server(data) is True
            assert not (data / "postmaster.pid").exists()
            assert stop_embedded_server(data) is False
        finally:
            child.kill()
            stop_embedded_server(data)


async def test_an_existing_directory_that_is_not_a_cluster_is_refused_untouched(
    account: str,
) -> None:
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        data = base / "made-by-someone"
        data.mkdir(mode=0o755)
        data.chmod(0o755)
        before = data.stat()
        with pytest.raises(ModelOnexError) as refused:
            await EmbeddedPostgres(data, runtime_dir=base / "runtime", account=account).start()
        owner = pwd.getpwuid(os.geteuid()).pw_name
        assert str(refused.value) == (
            f"embedded PostgreSQL refuses data dir {data}: it exists, is not a PostgreSQL "
            f"cluster and was not made by this tool (mode 0755, owner {owner}); remove it or "
            "set FEEDBACK_LOOP_DATA_DIR to a path that does not exist yet"
        )
        after = data.stat()
        assert (after.st_mode, after.st_uid, after.st_gid) == (
            before.st_mode,
            before.st_uid,
            before.st_gid,
        )
        assert list(data.iterdir()) == []


async def test_a_data_dir_of_another_major_is_refused(account: str) -> None:
    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        data = base / "old"
        data.mkdir()
        (data / "PG_VERSION").write_text("16\n")
        with pytest.raises(ModelOnexError, match="was made by PostgreSQL 16, this package runs"):
            await EmbeddedPostgres(data, runtime_dir=base / "runtime", account=account).start()
        assert not (base / "runtime").exists()
