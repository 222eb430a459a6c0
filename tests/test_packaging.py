"""The wheel built from this checkout ships the three packages with their data, and nothing else.

Built once per module, from a copy of the working tree (so ``build/`` and ``*.egg-info`` in the
checkout are neither written nor read: a stale ``build/lib`` could otherwise leak deleted
modules into the wheel), without build isolation: the venv's setuptools (the ``test`` extra)
builds it, no network needed.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = {"contracts", "nodes", "lineage"}
_NOT_SOURCE = shutil.ignore_patterns(
    ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("wheel")
    source, out = base / "source", base / "out"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            "-w",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (built,) = out.glob("*.whl")
    yield built
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_top_level_import_names_are_the_three_packages(wheel: Path, wheel_names: list[str]) -> None:
    modules = {n.split("/", 1)[0] for n in wheel_names if n.endswith(".py")}
    with zipfile.ZipFile(wheel) as archive:
        declared = {
            line.strip()
            for name in wheel_names
            if name.endswith(".dist-info/top_level.txt")
            for line in archive.read(name).decode().splitlines()
            if line.strip()
        }
    assert modules | declared == PACKAGES
    # Data files too: nothing lands beside the packages (site-packages/<something else>).
    assert {n.split("/", 1)[0] for n in wheel_names if ".dist-info/" not in n} == PACKAGES


def test_each_package_is_typed(wheel_names: list[str]) -> None:
    for package in sorted(PACKAGES):
        assert f"{package}/py.typed" in wheel_names, package


def test_migrations_and_node_contracts_are_shipped(wheel_names: list[str]) -> None:
    for folder, pattern in (("nodes/storage/migrations", "*.sql"), ("contracts/nodes", "*.yaml")):
        expected = {f"{folder}/{p.name}" for p in (REPO / folder).glob(pattern)}
        assert expected, f"no {pattern} under {folder} in the checkout"
        shipped = {n for n in wheel_names if n.startswith(f"{folder}/") and Path(n).match(pattern)}
        assert shipped == expected


def test_no_examples_tests_or_bench_in_the_wheel(wheel_names: list[str]) -> None:
    stray = [n for n in wheel_names if n.split("/", 1)[0] in {"examples", "tests", "bench"}]
    assert stray == []
