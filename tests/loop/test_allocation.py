"""Deterministic allocation: stable across processes, proportional to the weights."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from contracts.model_traffic_allocation import ModelTrafficAllocation as Allocation
from contracts.model_traffic_allocation import unit_position
from contracts.model_traffic_policy import ModelTrafficPolicyInput
from nodes.compute.node_traffic_policy_compute import NodeTrafficPolicyCompute


def test_same_answer_in_another_process() -> None:
    allocation = Allocation.from_weights("p", {"p@1.0.0": 0.5, "p@1.1.0": 0.5})
    keys = [f"user-{i}" for i in range(200)]
    here = [allocation.choose(k) for k in keys]
    code = (
        "from contracts.model_traffic_allocation import ModelTrafficAllocation as Allocation\n"
        "a = Allocation.from_weights('p', {'p@1.1.0': 0.5, 'p@1.0.0': 0.5})\n"
        f"print(','.join(a.choose(f'user-{{i}}') for i in range({len(keys)})))"
    )
    there = (
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": "12345", "PATH": ""},
        )
        .stdout.strip()
        .split(",")
    )
    assert here == there
    assert len(set(here)) == 2


@pytest.mark.parametrize("share", [0.5, 0.1, 0.9])
def test_shares_follow_the_weights(share: float) -> None:
    allocation = Allocation.from_weights("p", {"a": 1 - share, "b": share})
    n = 50_000
    picks = [allocation.choose(str(i)) for i in range(n)]
    observed = np.array([picks.count("a"), picks.count("b")])
    expected = np.array([1 - share, share]) * n
    assert stats.chisquare(observed, expected).pvalue > 1e-4


def test_positions_are_uniform() -> None:
    positions = [unit_position("pattern", f"u{i}") for i in range(20_000)]
    assert stats.kstest(positions, "uniform").pvalue > 1e-4


def test_zero_weights_get_no_traffic_and_empty_is_an_error() -> None:
    allocation = Allocation.from_weights("p", {"a": 1.0, "b": 0.0})
    assert {allocation.choose(str(i)) for i in range(1000)} == {"a"}
    with pytest.raises(ValueError, match="no version with traffic"):
        Allocation.from_weights("p", {"a": 0.0})


def _policy(active: str, testing: tuple[str, ...], share: float) -> dict[str, float]:
    return (
        NodeTrafficPolicyCompute()
        .compute(
            ModelTrafficPolicyInput(
                active_version_id=active, testing_version_ids=testing, candidate_traffic=share
            )
        )
        .weights
    )


def test_traffic_policy_splits_candidate_share_equally() -> None:
    assert _policy("a", (), 0.5) == {"a": 1.0}
    assert _policy("a", ("b",), 0.5) == {"a": 0.5, "b": 0.5}
    assert _policy("a", ("b", "c"), 0.4) == pytest.approx({"a": 0.6, "b": 0.2, "c": 0.2})
