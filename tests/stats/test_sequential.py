"""Repeated-looks simulation: the mSPRT rule keeps its size, naive peeking does not.

Everything is vectorised over experiments: at each look the cumulative per-arm summary stats
of all experiments are updated at once and passed as arrays to the engine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from nodes.stats import (
    DEFAULT_TAU,
    StatsInputError,
    always_valid_p_value,
    always_valid_p_value_proportions,
    compare_means_from_stats,
    mde_means,
    sample_size_means,
)

ALPHA = 0.05
N_EXPERIMENTS = 2000
N_LOOKS = 20
SIZE_BOUND = ALPHA + 3 * math.sqrt(ALPHA * (1 - ALPHA) / N_EXPERIMENTS)
CONTROL_MEAN = 100.0
PLANNED_N = 500


@dataclass(frozen=True)
class LookOutcome:
    """Share of experiments that rejected at any look, per rule."""

    sequential: float
    naive: float


class _Arm:
    """Cumulative (n, mean, M2) per experiment, merged chunk-wise (Chan et al.)."""

    def __init__(self, n_experiments: int) -> None:
        self.n = np.zeros(n_experiments)
        self.mean = np.zeros(n_experiments)
        self.m2 = np.zeros(n_experiments)

    def add(self, chunk: np.ndarray) -> None:
        k = chunk.shape[1]
        c_mean = chunk.mean(axis=1)
        c_m2 = ((chunk - c_mean[:, None]) ** 2).sum(axis=1)
        n = self.n + k
        delta = c_mean - self.mean
        self.mean = self.mean + delta * k / n
        self.m2 = self.m2 + c_m2 + delta**2 * self.n * k / n
        self.n = n

    @property
    def var(self) -> np.ndarray:
        return self.m2 / (self.n - 1)


def simulate_repeated_looks(
    *,
    seed: int,
    effect: float = 0.0,
    sd: float = 1.0,
    n_experiments: int = N_EXPERIMENTS,
    n_looks: int = N_LOOKS,
    per_look: int = 50,
    tau: float = DEFAULT_TAU,
    alpha: float = ALPHA,
) -> LookOutcome:
    """Run experiments with ``per_look`` new normal observations per arm at each look.

    The candidate mean is ``CONTROL_MEAN - effect`` (lower is better). A rule "rejects" when
    it fires at any look: sequential = running-min always-valid p < alpha, naive = Welch
    two-sided p < alpha. With ``effect > 0`` a rejection only counts in the right direction.
    """
    rng = np.random.default_rng(seed)
    control, candidate = _Arm(n_experiments), _Arm(n_experiments)
    seq_hit = np.zeros(n_experiments, dtype=bool)
    naive_hit = np.zeros(n_experiments, dtype=bool)
    p_seq: np.ndarray | None = None
    for _ in range(n_looks):
        control.add(rng.normal(CONTROL_MEAN, sd, size=(n_experiments, per_look)))
        candidate.add(rng.normal(CONTROL_MEAN - effect, sd, size=(n_experiments, per_look)))
        stats = (control.n, control.mean, control.var, candidate.n, candidate.mean, candidate.var)
        p_seq = np.asarray(always_valid_p_value(*stats, previous_p_value=p_seq, tau=tau))
        welch = compare_means_from_stats(*stats, lower_is_better=True, alpha=alpha)
        right_way = (candidate.mean < control.mean) if effect > 0 else True
        seq_hit |= (p_seq < alpha) & right_way
        naive_hit |= (np.asarray(welch.p_value) < alpha) & right_way
    return LookOutcome(sequential=float(seq_hit.mean()), naive=float(naive_hit.mean()))


def _planned_sd() -> float:
    """sd for which a 10 % reduction of the control mean needs exactly PLANNED_N per arm."""
    d = mde_means(n_per_arm=PLANNED_N, sd=1.0)
    return 0.1 * CONTROL_MEAN / d * (1 - 1e-9)


def test_aa_sequential_rule_keeps_size_naive_peeking_does_not() -> None:
    outcome = simulate_repeated_looks(seed=20170101)
    print(
        f"\nA/A, {N_EXPERIMENTS} experiments x {N_LOOKS} looks: sequential FPR "
        f"{outcome.sequential:.4f}, naive FPR {outcome.naive:.4f}, bound {SIZE_BOUND:.4f}"
    )
    assert outcome.sequential <= SIZE_BOUND
    assert outcome.naive > SIZE_BOUND


def test_planned_fixed_horizon_power_and_sequential_power() -> None:
    sd = _planned_sd()
    mde = 0.1 * CONTROL_MEAN
    n = sample_size_means(sd=sd, mde=mde)
    assert n == PLANNED_N

    # Fixed horizon: one one-sided Welch test at the planned n; more reps for a tight estimate.
    reps = 20_000
    rng = np.random.default_rng(7)
    control = rng.normal(CONTROL_MEAN, sd, size=(reps, n))
    candidate = rng.normal(CONTROL_MEAN - mde, sd, size=(reps, n))
    from nodes.stats import compare_means

    fixed = compare_means(control, candidate, lower_is_better=True)
    fixed_power = float(np.mean(np.asarray(fixed.p_value_better) < ALPHA))
    # The design power is 0.80 (n is its ceiling), so allow 3 Monte Carlo SE below it.
    assert fixed_power >= 0.80 - 3 * math.sqrt(0.8 * 0.2 / reps)

    outcome = simulate_repeated_looks(seed=99, effect=mde, sd=sd, per_look=2 * n // N_LOOKS)
    print(
        f"\nplanned n={n}/arm: fixed-horizon power {fixed_power:.4f}; sequential power over "
        f"{N_LOOKS} looks to n={2 * n} (tau={DEFAULT_TAU}) {outcome.sequential:.4f}"
    )
    assert outcome.sequential > 0.5


def test_running_minimum_and_proportions() -> None:
    first = always_valid_p_value(100, 0.0, 1.0, 100, 0.5, 1.0)
    assert isinstance(first, float)
    assert 0.0 < first < 1.0
    later = always_valid_p_value(200, 0.0, 1.0, 200, 0.0, 1.0, previous_p_value=first)
    assert later == first
    # No evidence: identical arms give p = 1; degenerate rates give p = 1 without error.
    assert always_valid_p_value_proportions(50, 1000, 50, 1000) == pytest.approx(1.0)
    assert always_valid_p_value_proportions(0, 1000, 0, 1000) == 1.0
    assert always_valid_p_value_proportions(50, 1000, 120, 1000) < 1e-3


def test_lambda_formula_matches_definition() -> None:
    theta, va, vb, na, nb, tau = 0.3, 2.0, 3.0, 150.0, 170.0, 0.2
    v = va / na + vb / nb
    t2 = (tau * math.sqrt((va + vb) / 2)) ** 2
    lam = math.sqrt(v / (v + t2)) * math.exp(theta**2 * t2 / (2 * v * (v + t2)))
    got = always_valid_p_value(na, 1.0, va, nb, 1.0 + theta, vb, tau=tau)
    assert got == pytest.approx(min(1.0, 1 / lam), rel=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"tau": 0.0}, "tau"),
        ({"previous_p_value": 1.5}, "previous_p_value"),
        ({"previous_p_value": float("nan")}, "previous_p_value"),
    ],
)
def test_bad_sequential_inputs(kwargs: dict[str, float], argument: str) -> None:
    with pytest.raises(StatsInputError) as info:
        always_valid_p_value(10, 0.0, 1.0, 10, 0.0, 1.0, **kwargs)
    assert info.value.argument == argument
