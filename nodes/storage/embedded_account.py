"""Who the embedded PostgreSQL runs as when the tool runs as root, and what that account reaches.

PostgreSQL refuses to run as root, so as root the server runs as an unprivileged system account
(``pgserver``, the name earlier versions used). It needs no login: it is created with a no-login
shell, and an account an earlier version made with ``/bin/bash`` gets only its shell changed.

Everything the account must reach (data dir, binaries, socket) has to be traversable by it. The
tool never widens the mode of a directory it did not create: it checks the mode bits instead and
refuses with one line naming the blocking directory, so the operator decides what to open.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError

SERVICE_ACCOUNT = "pgserver"
# A shell in this list means "cannot log in"; the first one present is what new accounts get.
_NO_LOGIN_SHELLS = ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/false", "/bin/false")


@dataclass(frozen=True)
class ServiceAccount:
    """An account as the server process sees itself: uid, primary gid and every group id.

    ``groups`` is passed to ``setgroups`` when the server is started, so the traversal check
    and the running process agree on which group bits apply (root's own groups are dropped).
    """

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


def lookup_account(name: str) -> ServiceAccount | None:
    """The account ``name`` if it exists, else None (nothing is created)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    groups = tuple(sorted(set(os.getgrouplist(name, entry.pw_gid))))
    return ServiceAccount(name=name, uid=entry.pw_uid, gid=entry.pw_gid, groups=groups)


def no_login_shell() -> str:
    """The no-login shell of this system (``/usr/sbin/nologin`` on Debian)."""
    for shell in _NO_LOGIN_SHELLS:
        if Path(shell).exists():
            return shell
    return _NO_LOGIN_SHELLS[-1]


def _account_tool(args: list[str], what: str) -> None:
    """Run useradd/usermod; a failure becomes one line with the tool's own last message."""
    if shutil.which(args[0]) is None:
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE,
            f"cannot {what}: {args[0]} is not installed; run as a non-root user instead",
        )
    done = subprocess.run(args, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise ModelOnexError(EnumErrorCode.DATABASE_UNAVAILABLE, f"cannot {what}: {reason}")


def ensure_service_account(name: str = SERVICE_ACCOUNT) -> ServiceAccount:
    """The system account the server runs as, created without a login shell when missing.

    An existing account is reused as it is, except that a login shell (earlier versions made
    the account with ``/bin/bash``) is replaced by the no-login shell: nothing else changes.
    Two processes racing to create it are fine: the loser finds the winner's account.
    """
    entry = _passwd(name)
    shell = no_login_shell()
    if entry is None:
        try:
            grp.getgrnam(name)
            group_args = ["--gid", name]  # a group of that name is left over: join it
        except KeyError:
            group_args = ["--user-group"]
        try:
            _account_tool(
                [
                    "useradd",
                    "--system",
                    "--shell",
                    shell,
                    "--no-create-home",
                    "--home-dir",
                    "/nonexistent",
                    *group_args,
                    name,
                ],
                f"create the system account {name} for the embedded PostgreSQL",
            )
        except ModelOnexError:
            if _passwd(name) is None:
                raise
    elif entry.pw_shell not in _NO_LOGIN_SHELLS:
        _account_tool(
            ["usermod", "--shell", shell, name],
            f"set the shell of the account {name} to {shell}",
        )
    account = lookup_account(name)
    if account is None:  # pragma: no cover - useradd succeeded but the account is not there
        raise ModelOnexError(
            EnumErrorCode.DATABASE_UNAVAILABLE, f"the system account {name} could not be found"
        )
    return account


def _passwd(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def can_search(info: os.stat_result, account: ServiceAccount | None) -> bool:
    """Whether ``account`` may traverse a directory with this stat, by its mode bits.

    ``None`` stands for an account about to be created: a fresh uid and group own nothing, so
    only the "other" bits apply. ACLs are not consulted (a directory opened only by an ACL is
    refused; the message says which one).
    """
    if account is not None and info.st_uid == account.uid:
        return bool(info.st_mode & stat.S_IXUSR)
    if account is not None and info.st_gid in account.groups:
        return bool(info.st_mode & stat.S_IXGRP)
    return bool(info.st_mode & stat.S_IXOTH)


def blocking_ancestor(
    path: Path, account: ServiceAccount | None
) -> tuple[Path, os.stat_result] | None:
    """The top-most existing directory from ``/`` down to ``path`` (included) that
    ``account`` cannot traverse, if any.

    Missing ones are not checked: the tool creates them itself, traversable.
    """
    for ancestor in [*reversed(path.parents), path]:
        try:
            info = ancestor.stat()
        except FileNotFoundError:
            return None
        if not can_search(info, account):
            return ancestor, info
    return None


def describe_owner(info: os.stat_result) -> str:
    """``mode 0700, owner root`` for messages (numeric ids when the name is unknown)."""
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    return f"mode {stat.S_IMODE(info.st_mode):04o}, owner {owner}"


def make_tool_dirs(path: Path, mode: int | None) -> list[Path]:
    """Create the missing directories of ``path`` top-down; return the ones created here.

    Only directories this call created get ``mode`` (chmod after mkdir, so the umask does not
    decide whether the server account can traverse them); existing ones are never touched.
    ``mode=None`` leaves the umask's default, as a non-root user expects.
    """
    created: list[Path] = []
    for directory in [*reversed(path.parents), path]:
        if directory.is_dir():
            continue
        try:
            directory.mkdir()
        except FileExistsError:
            continue  # made concurrently by someone else: not ours
        created.append(directory)
        if mode is not None:
            directory.chmod(mode)
    return created
