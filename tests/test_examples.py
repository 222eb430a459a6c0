"""The README's examples run as documented (in a subprocess, on the test server)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid


def _run(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FEEDBACK_LOOP_DSN": dsn}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )


def test_quick_start_runs_as_written(db_dsn: str) -> None:
    first = _run(db_dsn, "-m", "examples.quick_start")
    assert first.returncode == 0, first.stderr
    assert "Improvements applied: 0" in first.stdout  # first run: a candidate is proposed
    assert "'generate': 'completed'" in first.stdout
    second = _run(db_dsn, "-m", "examples.quick_start")
    assert second.returncode == 0, second.stderr
    assert "Improvements applied: 1" in second.stdout  # the candidate's A/B test was won
    assert "'validate': 'completed'" in second.stdout and "'apply': 'completed'" in second.stdout


def test_demo_applies_only_true_improvements(db_dsn: str) -> None:
    tag = f"t{uuid.uuid4().hex[:8]}"
    demo_args = ("-m", "nodes.adapters.cli.main", "demo", "--cycles", "6", "--requests", "1000")
    demo = _run(db_dsn, *demo_args, "--tag", tag)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert f"api_debug-{tag} lineage:" in demo.stdout
    assert "truly better: NO" not in demo.stdout
    summary = demo.stdout.strip().splitlines()[-1]
    applied = int(summary.split()[0])
    assert applied >= 3 and summary.endswith(", 0 not")

    again = _run(db_dsn, *demo_args, "--tag", tag)
    assert again.returncode == 1 and "cycle" not in again.stdout
    assert again.stderr.strip().splitlines() == [again.stderr.strip()]
    assert f"tag {tag!r} is already used" in again.stderr
