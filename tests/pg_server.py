"""A throwaway real PostgreSQL server for the test session.

Order of preference: FEEDBACK_LOOP_TEST_DSN (an existing server), Debian's PostgreSQL binaries
(the CI image ships postgresql-15), then the embedded wheel the package itself depends on.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TEST_DSN_ENV_VAR = "FEEDBACK_LOOP_TEST_DSN"


def _debian_bin_dir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    if not root.is_dir():
        return None
    for major in sorted(
        (p for p in root.iterdir() if p.name.isdigit()), key=lambda p: -int(p.name)
    ):
        if (major / "bin" / "initdb").exists() and (major / "bin" / "pg_ctl").exists():
            return major / "bin"
    return None


@contextmanager
def _debian_server(bin_dir: Path) -> Iterator[str]:
    """initdb refuses root: as root the cluster belongs to ``nobody``; unix socket only."""
    as_root = os.geteuid() == 0
    run_as: dict[str, str] = {"user": "nobody", "group": "nogroup"} if as_root else {}
    base = Path(tempfile.mkdtemp(prefix="feedback-loop-test-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    if as_root:
        os.chmod(base, 0o755)
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
    options = (
        f"-c listen_addresses='' -k {sock} -F -c max_connections=200 "
        "-c dynamic_shared_memory_type=mmap -c full_page_writes=off -c synchronous_commit=off"
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
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def _embedded_server() -> Iterator[str]:
    import asyncio

    from nodes.storage.embedded import EmbeddedPostgres

    base = Path(tempfile.mkdtemp(prefix="feedback-loop-test-embedded-"))
    server = EmbeddedPostgres(base / "pgdata")
    try:
        yield asyncio.run(server.start())
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@contextmanager
def throwaway_server() -> Iterator[str]:
    """Yield an admin DSN of a server that lives as long as the context."""
    explicit = os.environ.get(TEST_DSN_ENV_VAR)
    if explicit:
        yield explicit
        return
    bin_dir = _debian_bin_dir()
    if bin_dir is not None:
        with _debian_server(bin_dir) as dsn:
            yield dsn
        return
    with _embedded_server() as dsn:
        yield dsn
