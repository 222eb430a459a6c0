"""Planning functions vs statsmodels TTestIndPower / NormalIndPower."""

from __future__ import annotations

import math

import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import proportion_effectsize

from nodes.stats import (
    StatsInputError,
    mde_means,
    mde_proportions,
    required_n_means,
    required_n_proportions,
    sample_size_means,
    sample_size_proportions,
)

SM_ALT = {"one-sided": "larger", "two-sided": "two-sided"}
ALTS = ["one-sided", "two-sided"]


@pytest.mark.parametrize("alternative", ALTS)
@pytest.mark.parametrize(
    ("sd", "mde", "alpha", "power"), [(2.0, 0.5, 0.05, 0.8), (10, 1, 0.01, 0.9)]
)
def test_sample_size_means(
    sd: float, mde: float, alpha: float, power: float, alternative: str
) -> None:
    ref = TTestIndPower().solve_power(
        effect_size=mde / sd, alpha=alpha, power=power, alternative=SM_ALT[alternative]
    )
    kw = {"sd": sd, "mde": mde, "alpha": alpha, "power": power, "alternative": alternative}
    exact = required_n_means(**kw)  # type: ignore[arg-type]
    assert exact == pytest.approx(ref, rel=1e-6)
    assert sample_size_means(**kw) == math.ceil(exact)  # type: ignore[arg-type]


@pytest.mark.parametrize("alternative", ALTS)
def test_mde_means_solves_the_power_equation(alternative: str) -> None:
    sm = TTestIndPower()
    mde = mde_means(n_per_arm=300, sd=2.0, alternative=alternative)  # type: ignore[arg-type]
    achieved = sm.power(mde / 2.0, nobs1=300, alpha=0.05, alternative=SM_ALT[alternative])
    assert achieved == pytest.approx(0.8, abs=1e-10)
    # statsmodels' own effect-size solver stops at ~1e-6 relative (ours solves to 1e-12).
    ref = sm.solve_power(nobs1=300, alpha=0.05, power=0.8, alternative=SM_ALT[alternative])
    assert mde / 2.0 == pytest.approx(ref, rel=1e-5)
    assert sample_size_means(sd=2.0, mde=mde * 1.0001, alternative=alternative) <= 300  # type: ignore[arg-type]


@pytest.mark.parametrize("alternative", ALTS)
@pytest.mark.parametrize(("p1", "p2"), [(0.1, 0.12), (0.5, 0.45), (0.02, 0.03)])
def test_sample_size_proportions(p1: float, p2: float, alternative: str) -> None:
    h = abs(proportion_effectsize(p2, p1))
    ref = NormalIndPower().solve_power(
        effect_size=h, alpha=0.05, power=0.8, alternative=SM_ALT[alternative]
    )
    kw = {"p_control": p1, "p_candidate": p2, "alternative": alternative}
    exact = required_n_proportions(**kw)  # type: ignore[arg-type]
    assert exact == pytest.approx(ref, rel=1e-6)
    assert sample_size_proportions(**kw) == math.ceil(exact)  # type: ignore[arg-type]


@pytest.mark.parametrize("alternative", ALTS)
def test_mde_proportions_round_trips(alternative: str) -> None:
    diff = mde_proportions(n_per_arm=3000, p_control=0.1, alternative=alternative)  # type: ignore[arg-type]
    assert diff > 0
    h = proportion_effectsize(0.1 + diff, 0.1)
    ref = NormalIndPower().solve_power(
        nobs1=3000, alpha=0.05, power=0.8, alternative=SM_ALT[alternative]
    )
    # statsmodels' effect-size solver stops at ~1e-6 relative; check the equation itself too.
    assert h == pytest.approx(ref, rel=1e-5)
    achieved = NormalIndPower().power(h, nobs1=3000, alpha=0.05, alternative=SM_ALT[alternative])
    assert achieved == pytest.approx(0.8, abs=1e-10)
    n = required_n_proportions(p_control=0.1, p_candidate=0.1 + diff, alternative=alternative)  # type: ignore[arg-type]
    assert n == pytest.approx(3000, rel=1e-8)


@pytest.mark.parametrize(
    ("func", "kwargs", "argument"),
    [
        (sample_size_means, {"sd": 0.0, "mde": 1.0}, "sd"),
        (sample_size_means, {"sd": 1.0, "mde": 0.0}, "mde"),
        (sample_size_means, {"sd": 1.0, "mde": float("nan")}, "mde"),
        (sample_size_means, {"sd": 1.0, "mde": 1.0, "alpha": 0.0}, "alpha"),
        (sample_size_means, {"sd": 1.0, "mde": 1.0, "power": 1.0}, "power"),
        (sample_size_means, {"sd": 1.0, "mde": 1.0, "alternative": "less"}, "alternative"),
        (mde_means, {"n_per_arm": 1, "sd": 1.0}, "n_per_arm"),
        (sample_size_proportions, {"p_control": 0.1, "p_candidate": 0.1}, "p_candidate"),
        (sample_size_proportions, {"p_control": 0.0, "p_candidate": 0.1}, "p_control"),
        (mde_proportions, {"n_per_arm": 100, "p_control": 1.2}, "p_control"),
        (mde_proportions, {"n_per_arm": 3, "p_control": 0.99}, "n_per_arm"),
    ],
)
def test_bad_planning_inputs(func: object, kwargs: dict[str, object], argument: str) -> None:
    with pytest.raises(StatsInputError) as info:
        func(**kwargs)  # type: ignore[operator]
    assert info.value.argument == argument
