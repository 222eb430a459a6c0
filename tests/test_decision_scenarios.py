"""A few of bench/decisions.py's scenarios, small enough for every test run: simulated
patterns with known truth, judged look by look by the validator in process, through the same
code the bench uses (imported from it, so the two cannot drift apart)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.decisions import (
    PER_ARM_PER_LOOK,
    SCENARIO,
    SCENARIOS,
    WATCH_SCENARIO,
    Outcome,
    margin_multiples,
    run_in_process,
    run_watches,
    simulate,
    true_harms,
    true_metrics,
)

SEED = 7  # not the bench's reported seed (1)


def outcomes(key: str, patterns: int) -> list[Outcome]:
    return run_in_process([(key, i) for i in range(patterns)], SEED, workers=1)


def applied(found: list[Outcome]) -> int:
    return sum(o.decision == "apply" for o in found)


def test_truth_of_each_class() -> None:
    truly_better = {s.key for s in SCENARIOS if s.truly_better}
    assert truly_better == {
        "gain3", "gain10", "gain30", "loss_both", "loss_both_noexp", "loss_one", "split90",
        "no_scores",
    }  # fmt: skip
    control = true_metrics(SCENARIO["aa"].candidate)
    for s in SCENARIOS:
        if not s.harmful:
            continue
        assert not s.truly_better, s.key
        new = true_metrics(s.candidate)
        # Worse than a reference margin by 2x or more, or worse on the metric it targets.
        assert max(margin_multiples(control, new).values()) >= 2 - 1e-9 or s.truth_change < 0, s.key
        assert true_harms(control, new) or s.truth_change < 0, s.key


def test_look_k_sees_k_times_500_per_arm_and_loss_keeps_the_same_executions() -> None:
    control, candidate = simulate(SCENARIO["gain10"], 3, SEED)
    for look in (1, 7, 20):
        assert control.at(look).n == candidate.at(look).n == look * PER_ARM_PER_LOOK
    lossy_control, lossy_candidate = simulate(SCENARIO["loss_both"], 3, SEED)
    assert np.isin(lossy_candidate.durations, candidate.durations).all()
    assert 0.75 < lossy_control.at(20).n / control.at(20).n < 0.85
    _, aa_candidate = simulate(SCENARIO["aa"], 3, SEED)
    _, biased = simulate(SCENARIO["biased_loss"], 3, SEED)  # the A/A's, slowest fifth unlogged
    slowest = np.sort(aa_candidate.durations)[biased.durations.size :]
    assert np.isin(biased.durations, aa_candidate.durations).all()
    assert biased.durations.max() < slowest.min()
    assert 0.78 < biased.durations.size / aa_candidate.durations.size < 0.82
    control90, candidate10 = simulate(SCENARIO["split90"], 0, SEED)
    assert (control90.at(2).n, candidate10.at(2).n) == (1800, 200)


def test_exposures_count_routed_calls_logged_rows_and_distinct_units() -> None:
    _, biased = simulate(SCENARIO["biased_loss"], 3, SEED)
    seen = biased.exposure_at(2)
    assert seen.calls == seen.units == 2 * PER_ARM_PER_LOOK  # one unit per execution
    assert seen.executions == biased.at(2).n < seen.calls
    control, candidate = simulate(SCENARIO["aa_units"], 3, SEED)
    for arm in (control, candidate):
        first, last = arm.exposure_at(1), arm.exposure_at(20)
        assert first.calls == first.executions == PER_ARM_PER_LOOK
        assert first.units < first.calls  # a repeated unit counts once
        assert first.units <= last.units < 5_000 < last.calls
        assert last.units == np.unique(arm.units).size


def test_outcome_biased_loss_is_blocked_at_look_1_with_exposures() -> None:
    found = outcomes("biased_loss", 20)
    assert applied(found) == 0
    assert all(o.decision == "block" and o.look == 1 for o in found), [o.reason for o in found]
    assert all(o.reason.startswith("logging incomplete") for o in found)


def test_a_a_with_zipf_repeated_units_is_neither_applied_nor_blocked() -> None:
    found = outcomes("aa_units", 10)
    assert applied(found) == 0
    assert not any(o.blocked for o in found)


def test_a_regression_after_apply_is_rolled_back_within_5_looks_and_a_gain_is_held() -> None:
    regress = run_watches([("regress", i) for i in range(10)], SEED, workers=1)
    assert all(o.decision == "rollback" and 3 <= o.look <= 7 for o in regress), regress
    assert WATCH_SCENARIO["regress"].regressed is not None
    held = run_watches([("watch10", i) for i in range(5)], SEED, workers=1)
    assert all(o.decision == "hold" for o in held), held


def test_a_a_rarely_applies() -> None:
    found = outcomes("aa", 40)
    assert applied(found) <= 2
    assert all(o.decision != "continue" for o in found)  # the horizon ends every test


def test_a_30_percent_gain_is_always_applied_by_look_20() -> None:
    found = outcomes("gain30", 20)
    assert applied(found) == 20, [o.reason for o in found if o.decision != "apply"]


@pytest.mark.parametrize("key", ["tail_trap", "flakier"])
def test_a_trap_is_never_applied(key: str) -> None:
    found = outcomes(key, 20)
    assert applied(found) == 0
    rejected = [o for o in found if o.decision == "reject"]
    assert len(rejected) >= 18, [o.reason for o in found if o.decision != "reject"]
    if key == "flakier":  # rejected on the guardrail it breaks
        assert all(o.inferior == ("success_rate",) for o in rejected)
