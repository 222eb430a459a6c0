"""Decisions in numbers: how often the validator applies what is truly better, and only that.

Classes of simulated patterns with known truth (A/A, A/A with Zipf-repeated units, gains,
regressions, traps that are better on one metric and worse on another, lost logs, a 90/10
split, no scores logged). Each pattern's candidate is judged at 20 scheduled looks of 500 new
executions per arm, as the loop would: arms summarised exactly as the collector's SQL does
(``nodes.simulation.arms``), the exposure window assign() would have recorded (distinct units,
assign calls = executions routed before any log loss, logged executions), the validator called
at every look (each look's always-valid statistics), stopping at the first terminal decision.
"Truly better" is judged against the reference margins below, fixed here, not against the
objective the validator uses (its defaults). Informational classes (within-unit correlation,
the no-exposure fallbacks) are reported on their own lines and left out of precision.

The post-apply watch: applied versions (truly better, or better and then regressing) against
the previous version keeping a 10 % holdback, 1,000 executions per look, cumulative since the
apply, until rolled back or 20 looks.

An end-to-end mode sends the first patterns of each class through PostgreSQL and the service
(register, propose, assign() every routed execution at its timestamp, ingest the logged ones,
run with ``as_of``) and counts how many reach the same decision at the same look as in process.

Run: python bench/decisions.py [--seed N] [--patterns-scale F] [--workers 2]
                               [--e2e-patterns 20] [--e2e-raw] [--only process|e2e]
                               [--routing fixed]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import numpy.typing as npt
from scipy.stats import beta, norm

from bench._db import bench_pool
from contracts.enum_loop import EnumDecision, EnumImprovementType
from contracts.model_exposure import ModelArmExposure, ModelExposureWindow
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_improvement_lifecycle import (
    EnumLifecycleEvent,
    ModelLifecycleEvent,
    ModelLifecycleRequest,
)
from contracts.model_objective import ModelObjective
from contracts.model_pattern_feedback import ModelArmStats
from contracts.model_pattern_improvement import ModelConfigChange, ModelProposal
from contracts.model_traffic_allocation import ModelAllocationRequest, ModelTrafficAllocation
from contracts.model_validation import ModelExperiment, ModelValidateInput, ModelValidationResult
from nodes.compute.node_improvement_validator_compute import (
    SRM_P,
    NodeImprovementValidatorCompute,
)
from nodes.service import FeedbackLoopService
from nodes.simulation.arms import arm_stats
from nodes.stats import sequential_srm

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]

# ------------------------------------------------------------------ pinned truths and plan
LOOKS = 20
PER_ARM_PER_LOOK = 500  # at a 50/50 split; the 90/10 class gets 900 / 100 of the same 1,000
LOOK_INTERVAL = timedelta(hours=1)
MEDIAN_MS = 200.0
SIGMA = 0.8
FAILURE = 0.05
QUALITY = 0.80
QUALITY_SD = 0.10
COST_USD = 0.01
COST_CV = 0.5
COST_SIGMA = math.sqrt(math.log(1 + COST_CV**2))
Z95 = 1.645

SIGNIFICANCE = 0.05
AUTO_APPLY = 0.95
MIN_SAMPLE = 30

# Zipf-repeated units: each arm has its own units (a unit always runs the same version) and an
# execution's unit is drawn by Zipf popularity; the exposure window counts a unit once. In the
# main class outcomes are independent per execution; in the informational variant a unit's
# executions share a random effect of this correlation on the standard-normal scale of log
# duration and of quality (marginal distributions unchanged).
ZIPF_UNITS = 5_000
ZIPF_EXPONENT = 1.0
UNIT_CORRELATION = 0.5

LOSS_RATE = 0.20

# Post-apply watch: the previous version keeps a 10 % holdback of 1,000 executions per look.
WATCH_LOOKS = 20
WATCH_PER_LOOK = 1_000
HOLDBACK = 0.10
REGRESS_ONSET = 3  # the first watch look on which the applied version has regressed
ROLLBACK_WITHIN = 5  # looks from the onset (onset included)

REFERENCE_MARGINS: dict[str, float] = {
    "success_rate": 0.02,  # points
    "duration_mean": 0.10,  # relative
    "duration_p95": 0.20,  # relative
    "quality_score": 0.03,  # absolute
    "cost_usd": 0.10,  # relative
}
_RELATIVE = frozenset({"duration_mean", "duration_p95", "cost_usd"})
_LOWER_IS_BETTER = _RELATIVE
_TARGET = {
    EnumImprovementType.PERFORMANCE: "duration_mean",
    EnumImprovementType.RELIABILITY: "success_rate",
}

VERDICTS = ("apply", "review", "reject", "inconclusive", "block", "continue")
_VERDICT_NAMES = {"block": "blocked", "continue": "still testing"}

Loss = Literal["none", "slowest_candidate", "random_both", "random_candidate"]
Routing = Literal["fixed", "binomial"]


@dataclass(frozen=True)
class Arm:
    """One version's truth."""

    median_ms: float = MEDIAN_MS
    sigma: float = SIGMA
    failure: float = FAILURE
    quality: float = QUALITY
    cost_usd: float = COST_USD

    def faster(self, gain: float) -> Arm:
        """Median (and so mean and p95) scaled by ``1 - gain``."""
        return replace(self, median_ms=self.median_ms * (1 - gain))


CONTROL = Arm()


def _clipped_normal_mean(mu: float, sd: float, low: float = 0.0, high: float = 1.0) -> float:
    """E[clip(X, low, high)] for X ~ N(mu, sd): E X - E (X - high)+ + E (low - X)+."""

    def excess(m: float) -> float:  # E (Y)+ for Y ~ N(m, sd)
        return float(m * norm.cdf(m / sd) + sd * norm.pdf(m / sd))

    return mu - excess(mu - high) + excess(low - mu)


def true_metrics(arm: Arm) -> dict[str, float]:
    """Analytic truth: lognormal mean m exp(s^2 / 2) and p95 m exp(1.645 s); quality is the
    mean of N(q, 0.10) clipped to [0, 1] (scores outside cannot be ingested)."""
    return {
        "duration_mean": arm.median_ms * math.exp(arm.sigma**2 / 2),
        "duration_p95": arm.median_ms * math.exp(Z95 * arm.sigma),
        "success_rate": 1.0 - arm.failure,
        "quality_score": _clipped_normal_mean(arm.quality, QUALITY_SD),
        "cost_usd": arm.cost_usd,
    }


def margin_multiples(old: dict[str, float], new: dict[str, float]) -> dict[str, float]:
    """How much worse the new version truly is on each guarded metric, in reference margins
    (1.0 = exactly at the margin, negative = better)."""
    return {
        name: (new[name] / old[name] - 1.0 if name in _RELATIVE else old[name] - new[name]) / margin
        for name, margin in REFERENCE_MARGINS.items()
    }


def true_harms(old: dict[str, float], new: dict[str, float]) -> list[str]:
    """The reference margins the new version truly breaks."""
    return [name for name, times in margin_multiples(old, new).items() if times > 1 + 1e-9]


@dataclass(frozen=True)
class Scenario:
    """One class of patterns: the candidate's truth and how its executions reach the log."""

    key: str
    label: str
    candidate: Arm
    patterns: int = 100
    kind: EnumImprovementType = EnumImprovementType.PERFORMANCE
    share: float = 0.5  # the candidate's share of traffic
    loss: Loss = "none"
    log_scores: bool = True  # quality scores logged (user ratings never are, in any class)
    zipf_units: bool = False  # units repeat (Zipf popularity); else one unit per execution
    clustered: bool = False  # a unit's executions correlated (needs zipf_units)
    exposures: bool = True  # the exposure window assign() records; False: logged counts only
    seed_key: str | None = None  # draw the same executions as this class (before any loss)
    harmful: bool = False  # worse than the reference margins by 2x or more
    informational: bool = False  # own line only; not in precision or the power figures

    @property
    def truth_change(self) -> float:
        """The target metric's relative change in truth, positive = better."""
        target = _TARGET[self.kind]
        old, new = true_metrics(CONTROL)[target], true_metrics(self.candidate)[target]
        change = (new - old) / abs(old)
        return -change if target in _LOWER_IS_BETTER else change

    @property
    def truly_better(self) -> bool:
        harms = true_harms(true_metrics(CONTROL), true_metrics(self.candidate))
        return self.truth_change > 1e-12 and not harms


_FASTER_10 = CONTROL.faster(0.10)

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("aa", "A/A", CONTROL, patterns=400),
    Scenario(
        "aa_units", "A/A, Zipf-repeated units, independent outcomes", CONTROL, zipf_units=True
    ),
    Scenario(
        "aa_units_corr",
        "A/A, Zipf-repeated units, within-unit correlation 0.5 (informational)",
        CONTROL,
        zipf_units=True,
        clustered=True,
        seed_key="aa_units",
        informational=True,
    ),
    Scenario("gain3", "3 % faster", CONTROL.faster(0.03)),
    Scenario("gain10", "10 % faster", _FASTER_10),
    Scenario("gain30", "30 % faster", CONTROL.faster(0.30)),
    Scenario("slower10", "10 % slower", CONTROL.faster(-0.10), harmful=True),
    Scenario(
        "tail_trap",
        "tail trap: median x0.9, sigma 0.8 -> 1.3 (mean +52 %, p95 +105 %)",
        replace(_FASTER_10, sigma=1.3),
        harmful=True,
    ),
    Scenario(
        "flakier", "10 % faster, failures 5 -> 9 %", replace(_FASTER_10, failure=0.09), harmful=True
    ),
    Scenario(
        "reliable_slower",
        "reliability: failures 5 -> 3 %, 30 % slower",
        replace(CONTROL.faster(-0.30), failure=0.03),
        kind=EnumImprovementType.RELIABILITY,
        harmful=True,
    ),
    Scenario(
        "worse_quality",
        "10 % faster, quality -0.06",
        # Scores are clipped to [0, 1]: a location 0.061 lower moves the mean by 0.0603.
        replace(_FASTER_10, quality=QUALITY - 0.061),
        harmful=True,
    ),
    Scenario(
        "costlier",
        "10 % faster, cost +25 %",
        replace(_FASTER_10, cost_usd=COST_USD * 1.25),
        harmful=True,
    ),
    Scenario(
        "biased_loss",
        "outcome-biased loss: candidate's slowest 20 % never logged, truly A/A",
        CONTROL,
        loss="slowest_candidate",
        seed_key="aa",
    ),
    Scenario(
        "biased_loss_noexp",
        "outcome-biased loss, no exposures recorded (logged-count fallback, informational)",
        CONTROL,
        loss="slowest_candidate",
        exposures=False,
        seed_key="aa",
        informational=True,
    ),
    Scenario(
        "loss_both",
        "random 20 % loss in both arms, 10 % faster",
        _FASTER_10,
        loss="random_both",
        seed_key="gain10",
    ),
    Scenario(
        "loss_both_noexp",
        "random 20 % loss in both arms, 10 % faster, no exposures (informational)",
        _FASTER_10,
        loss="random_both",
        exposures=False,
        seed_key="gain10",
        informational=True,
    ),
    Scenario(
        "loss_one",
        "random 20 % loss in the candidate arm, 10 % faster",
        _FASTER_10,
        loss="random_candidate",
        seed_key="gain10",
    ),
    Scenario("split90", "90/10 split, 10 % faster", _FASTER_10, share=0.1),
    Scenario(
        "no_scores",
        "no quality scores or ratings logged, 10 % faster",
        _FASTER_10,
        log_scores=False,
        seed_key="gain10",
    ),
)
SCENARIO: dict[str, Scenario] = {s.key: s for s in SCENARIOS}


# ------------------------------------------------------------------------- simulation
@dataclass(frozen=True)
class LoggedArm:
    """One arm's executions in look order. ``units``, ``logged`` and ``routed_ends`` cover
    every routed execution (an assign call each, before any log loss); the metric arrays only
    the logged ones, ``ends[k]`` = how many logged by the end of look k + 1, ``unit_ends[k]``
    = distinct units seen by then."""

    version_id: str
    durations: FloatArray
    ok: BoolArray
    quality: FloatArray  # NaN: no score logged
    costs: FloatArray
    ends: tuple[int, ...]
    units: IntArray
    logged: BoolArray
    routed_ends: tuple[int, ...]
    unit_ends: tuple[int, ...]

    def at(self, look: int) -> ModelArmStats:
        """The cumulative arm the collector would report at ``look`` (1-based)."""
        k = self.ends[look - 1]
        return arm_stats(
            self.version_id,
            self.durations[:k],
            self.ok[:k],
            quality=self.quality[:k],
            costs=self.costs[:k],
        )

    def exposure_at(self, look: int) -> ModelArmExposure:
        """What assign() recorded for this arm over the experiment by ``look``."""
        return ModelArmExposure(
            version_id=self.version_id,
            units=self.unit_ends[look - 1],
            calls=self.routed_ends[look - 1],
            executions=self.ends[look - 1],
        )

    def look_slice(self, look: int) -> slice:
        """The executions logged during ``look``."""
        return slice(self.ends[look - 2] if look > 1 else 0, self.ends[look - 1])

    def routed_slice(self, look: int) -> slice:
        """The executions routed (assign calls) during ``look``."""
        return slice(self.routed_ends[look - 2] if look > 1 else 0, self.routed_ends[look - 1])


def _stable(key: str) -> int:
    return zlib.crc32(key.encode())


def pattern_id(scenario: Scenario, index: int) -> str:
    return f"dec-{scenario.key}-{index:04d}"


_ZIPF_P = 1.0 / np.arange(1, ZIPF_UNITS + 1) ** ZIPF_EXPONENT
_ZIPF_P /= _ZIPF_P.sum()


def _draw(
    arm: Arm, n: int, rng: np.random.Generator, *, units: IntArray | None
) -> tuple[FloatArray, BoolArray, FloatArray, FloatArray]:
    """``units``: each execution's unit when a unit's executions are correlated, else None."""
    if units is not None:
        unit_z, unit_q = rng.standard_normal(ZIPF_UNITS), rng.standard_normal(ZIPF_UNITS)
        rest = math.sqrt(1 - UNIT_CORRELATION**2)
        z = UNIT_CORRELATION * unit_z[units] + rest * rng.standard_normal(n)
        qz = UNIT_CORRELATION * unit_q[units] + rest * rng.standard_normal(n)
    else:
        z, qz = rng.standard_normal(n), rng.standard_normal(n)
    durations = arm.median_ms * np.exp(arm.sigma * z)
    ok = rng.random(n) >= arm.failure
    quality = np.where(ok, np.clip(arm.quality + QUALITY_SD * qz, 0.0, 1.0), np.nan)
    costs = arm.cost_usd * np.exp(COST_SIGMA * rng.standard_normal(n) - COST_SIGMA**2 / 2)
    return durations, ok, quality, costs


def _distinct_by(units: IntArray, ends: npt.NDArray[np.int64]) -> tuple[int, ...]:
    """Distinct units among ``units[:e]`` for each end ``e``."""
    first = np.zeros(units.size, dtype=np.int64)
    first[np.unique(units, return_index=True)[1]] = 1
    seen = np.concatenate(([0], np.cumsum(first)))
    return tuple(int(seen[e]) for e in ends)


def simulate(
    scenario: Scenario,
    index: int,
    seed: int,
    *,
    looks: int = LOOKS,
    routing: Routing = "fixed",
) -> tuple[LoggedArm, LoggedArm]:
    """Control and candidate of one pattern over ``looks`` looks of 2 x 500 executions: the
    same seed gives the same executions whatever is later lost (classes that name a
    ``seed_key`` share their executions with that class)."""
    base = np.random.SeedSequence([seed, _stable(scenario.seed_key or scenario.key), index])
    rng, loss_rng, unit_rng = (np.random.default_rng(s) for s in base.spawn(3))
    per_look = 2 * PER_ARM_PER_LOOK
    if routing == "binomial":
        candidate_counts = rng.binomial(per_look, scenario.share, looks)
    else:
        candidate_counts = np.full(looks, round(per_look * scenario.share))
    counts = (per_look - candidate_counts, candidate_counts)
    pid = pattern_id(scenario, index)
    arms = []
    for which, (truth, n_by_look) in enumerate(
        zip((CONTROL, scenario.candidate), counts, strict=True)
    ):
        n = int(n_by_look.sum())
        look_of = np.repeat(np.arange(1, looks + 1), n_by_look)
        if scenario.zipf_units:
            units = unit_rng.choice(ZIPF_UNITS, size=n, p=_ZIPF_P).astype(np.int64)
        else:
            units = np.arange(n, dtype=np.int64)
        durations, ok, quality, costs = _draw(
            truth, n, rng, units=units if scenario.clustered else None
        )
        logged = np.ones(durations.size, dtype=bool)
        if scenario.loss == "random_both" or (scenario.loss == "random_candidate" and which):
            logged = loss_rng.random(durations.size) >= LOSS_RATE
        elif scenario.loss == "slowest_candidate" and which:
            slowest = truth.median_ms * math.exp(truth.sigma * float(norm.ppf(1 - LOSS_RATE)))
            logged = durations <= slowest
        if not scenario.log_scores:
            quality = np.full(durations.size, np.nan)
        ends = np.cumsum(np.bincount(look_of[logged], minlength=looks + 1)[1:])
        routed_ends = np.cumsum(n_by_look)
        arms.append(
            LoggedArm(
                version_id=f"{pid}@{'1.1.0' if which else '1.0.0'}",
                durations=durations[logged],
                ok=ok[logged],
                quality=quality[logged],
                costs=costs[logged],
                ends=tuple(int(e) for e in ends),
                units=units,
                logged=logged,
                routed_ends=tuple(int(e) for e in routed_ends),
                unit_ends=_distinct_by(units, routed_ends),
            )
        )
    return arms[0], arms[1]


# ------------------------------------------------------------------- decisions in process
@dataclass(frozen=True)
class Outcome:
    """Where one pattern's test ended: the first terminal decision, else ``continue`` at the
    last look."""

    key: str
    index: int
    decision: str  # an EnumDecision value
    look: int
    reason: str
    inferior: tuple[str, ...] = ()  # guardrails shown worse than their margin
    p_value: float | None = None
    delta_ci_low: float | None = None  # the winning metric's always-valid bound, + = better

    @property
    def blocked(self) -> bool:
        """Stopped because the arms are not comparable (sample ratio or logging)."""
        return self.decision == "block"


_VALIDATOR = NodeImprovementValidatorCompute()


def _decide(experiment: ModelExperiment, objective: ModelObjective) -> ModelValidationResult:
    """One look of one experiment under the bench's fixed run settings."""
    return _VALIDATOR.validate(
        ModelValidateInput(
            experiments=[experiment],
            objective=objective,
            significance_level=SIGNIFICANCE,
            auto_apply_threshold=AUTO_APPLY,
            min_sample_size=MIN_SAMPLE,
        )
    ).results[0]


def exposure_window(control: LoggedArm, candidate: LoggedArm, look: int) -> ModelExposureWindow:
    return ModelExposureWindow(
        control=control.exposure_at(look), candidate=candidate.exposure_at(look)
    )


def decide(
    scenario: Scenario,
    index: int,
    seed: int,
    *,
    looks: int = LOOKS,
    routing: Routing = "fixed",
) -> Outcome:
    """One pattern's test in process, look by look, as the loop runs it."""
    control, candidate = simulate(scenario, index, seed, looks=looks, routing=routing)
    objective = ModelObjective(pattern_id=pattern_id(scenario, index))
    improvement_id = uuid.UUID(int=(_stable(scenario.key) << 32) | index)
    reason = ""
    for look in range(1, looks + 1):
        experiment = ModelExperiment(
            improvement_id=improvement_id,
            improvement_type=scenario.kind,
            control=control.at(look),
            candidate=candidate.at(look),
            expected_traffic_share=scenario.share,
            age_days=look * LOOK_INTERVAL.total_seconds() / 86_400,
            exposure=exposure_window(control, candidate, look) if scenario.exposures else None,
        )
        result = _decide(experiment, objective)
        reason = result.reason
        if result.decision is not EnumDecision.CONTINUE:
            inferior = tuple(
                g.metric.value for g in result.guardrails if g.verdict.value == "inferior"
            )
            return Outcome(
                scenario.key,
                index,
                result.decision.value,
                look,
                reason,
                inferior,
                result.p_value,
                result.delta_ci_low,
            )
    return Outcome(scenario.key, index, EnumDecision.CONTINUE.value, looks, reason)


# ------------------------------------------------------------------ post-apply watch
@dataclass(frozen=True)
class WatchScenario:
    """An applied version watched against the previous one (its 10 % holdback)."""

    key: str
    label: str
    applied: Arm  # the applied version's truth from the apply
    regressed: Arm | None = None  # its truth from watch look REGRESS_ONSET on
    patterns: int = 100


_REGRESSED = replace(CONTROL, median_ms=MEDIAN_MS * 1.5, failure=0.15)  # mean x1.5, 15 % fail

WATCH_SCENARIOS: tuple[WatchScenario, ...] = (
    WatchScenario(
        "regress",
        f"10 % faster at apply, from watch look {REGRESS_ONSET} failures 15 % and mean x1.5",
        _FASTER_10,
        _REGRESSED,
    ),
    WatchScenario("watch10", "10 % faster applied, no regression", _FASTER_10),
    WatchScenario("watch30", "30 % faster applied, no regression", CONTROL.faster(0.30)),
)
WATCH_SCENARIO: dict[str, WatchScenario] = {w.key: w for w in WATCH_SCENARIOS}


@dataclass(frozen=True)
class WatchOutcome:
    key: str
    index: int
    decision: str  # rollback, or hold at the end of the watch
    look: int
    inferior: tuple[str, ...] = ()


def watch(w: WatchScenario, index: int, seed: int, *, looks: int = WATCH_LOOKS) -> WatchOutcome:
    """One applied change watched look by look, cumulative since the apply: control = the
    previous version (holdback), candidate = the applied version."""
    rng = np.random.default_rng([seed, _stable(w.key), index])
    n_old = round(WATCH_PER_LOOK * HOLDBACK)
    n_new = WATCH_PER_LOOK - n_old
    pid = f"watch-{w.key}-{index:04d}"
    old = _draw(CONTROL, n_old * looks, rng, units=None)
    onset = REGRESS_ONSET if w.regressed is not None else looks + 1
    before = _draw(w.applied, n_new * min(onset - 1, looks), rng, units=None)
    after = _draw(w.regressed or w.applied, n_new * max(looks - onset + 1, 0), rng, units=None)
    new = tuple(np.concatenate(pair) for pair in zip(before, after, strict=True))
    objective = ModelObjective(pattern_id=pid)
    improvement_id = uuid.UUID(int=(_stable(w.key) << 32) | index)

    def arm(version: str, draws: tuple[Any, ...], k: int) -> ModelArmStats:
        durations, ok, quality, costs = (a[:k] for a in draws)
        return arm_stats(version, durations, ok, quality=quality, costs=costs)

    for look in range(1, looks + 1):
        experiment = ModelExperiment(
            improvement_id=improvement_id,
            improvement_type=EnumImprovementType.PERFORMANCE,
            control=arm(f"{pid}@1.0.0", old, look * n_old),
            candidate=arm(f"{pid}@1.1.0", new, look * n_new),
            expected_traffic_share=1 - HOLDBACK,
            age_days=look * LOOK_INTERVAL.total_seconds() / 86_400,
            watch_days_left=(looks - look + 1) * LOOK_INTERVAL.total_seconds() / 86_400,
        )
        result = _decide(experiment, objective)
        if result.decision is EnumDecision.ROLLBACK:
            inferior = tuple(
                g.metric.value for g in result.guardrails if g.verdict.value == "inferior"
            )
            return WatchOutcome(w.key, index, "rollback", look, inferior)
    return WatchOutcome(w.key, index, "hold", looks)


def _decide_task(task: tuple[str, int, int, int, Routing]) -> Outcome | WatchOutcome:
    key, index, seed, looks, routing = task
    if key in WATCH_SCENARIO:
        return watch(WATCH_SCENARIO[key], index, seed)
    return decide(SCENARIO[key], index, seed, looks=looks, routing=routing)


def run_in_process(
    tasks: Sequence[tuple[str, int]],
    seed: int,
    *,
    workers: int = 2,
    looks: int = LOOKS,
    routing: Routing = "fixed",
) -> list[Outcome]:
    """Every (class key, pattern index) decided, on ``workers`` processes (1: this one)."""
    done = _run(tasks, seed, workers=workers, looks=looks, routing=routing)
    return [o for o in done if isinstance(o, Outcome)]


def run_watches(
    tasks: Sequence[tuple[str, int]], seed: int, *, workers: int = 2
) -> list[WatchOutcome]:
    """Every (watch class key, pattern index) watched."""
    done = _run(tasks, seed, workers=workers, looks=WATCH_LOOKS, routing="fixed")
    return [o for o in done if isinstance(o, WatchOutcome)]


def _run(
    tasks: Sequence[tuple[str, int]], seed: int, *, workers: int, looks: int, routing: Routing
) -> list[Outcome | WatchOutcome]:
    full = [(key, index, seed, looks, routing) for key, index in tasks]
    if workers <= 1:
        return [_decide_task(t) for t in full]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_decide_task, full, chunksize=8))


# ------------------------------------------------------------------------------ report
def _pct(count: int, total: int) -> str:
    return f"{100 * count / total:.1f} %" if total else "n/a"


def _ci(count: int, total: int) -> str:
    """Exact (Clopper-Pearson) 95 % interval of a rate, in percent."""
    if not total:
        return ""
    low = float(beta.ppf(0.025, count, total - count + 1)) if count else 0.0
    high = float(beta.ppf(0.975, count + 1, total - count)) if count < total else 1.0
    return f" [95 % CI {100 * low:.1f}-{100 * high:.1f} %]"


def _target(count: int, total: int, op: str, bound: float) -> str:
    if not total:
        return f"(target {op} {bound:g} %: not measured)"
    value = 100 * count / total
    met = value >= bound if op == ">=" else value <= bound
    return f"(target {op} {bound:g} %: {'met' if met else 'NOT met'})"


def verdict_mix(outcomes: Sequence[Outcome]) -> str:
    counts = Counter(o.decision for o in outcomes)
    return " / ".join(
        f"{_VERDICT_NAMES.get(v, v)} {_pct(counts[v], len(outcomes))}" for v in VERDICTS
    )


def _same(a: Sequence[Outcome], b: Sequence[Outcome]) -> tuple[int, int, int]:
    """Patterns with the same verdict / also at the same look, of the shared indices."""
    by_index = {o.index: o for o in b}
    pairs = [(o, by_index[o.index]) for o in a if o.index in by_index]
    verdict = sum(x.decision == y.decision for x, y in pairs)
    look = sum(x.decision == y.decision and x.look == y.look for x, y in pairs)
    return verdict, look, len(pairs)


def _figure(name: str, count: int, total: int, op: str, bound: float, detail: str = "") -> str:
    """One figure on its own line: rate, exact CI, counts, target and whether it is met."""
    extra = f"; {detail}" if detail else ""
    return (
        f"{name}: {_pct(count, total)}{_ci(count, total)} ({count} of {total}{extra}) "
        f"{_target(count, total, op, bound)}"
    )


def report(outcomes: Sequence[Outcome], looks: int = LOOKS) -> list[str]:
    """One line per figure."""
    by: dict[str, list[Outcome]] = {s.key: [] for s in SCENARIOS}
    for o in outcomes:
        by[o.key].append(o)

    def applies(key: str) -> int:
        return sum(o.decision == "apply" for o in by[key])

    def blocks(key: str) -> int:
        return sum(o.blocked for o in by[key])

    lines = []
    for s in SCENARIOS:
        group = by[s.key]
        if not group:
            continue
        concluded = sum(o.decision != "continue" for o in group)
        looks_taken = sorted(o.look for o in group if o.decision != "continue")
        median = f", median look {looks_taken[len(looks_taken) // 2]}" if looks_taken else ""
        truth = "truly better" if s.truly_better else "not truly better"
        lines.append(
            f"concluded by look {looks}, {s.label} ({truth}, {len(group)} patterns): "
            f"{_pct(concluded, len(group))} ({verdict_mix(group)}){median}"
        )

    counted = [o for o in outcomes if not SCENARIO[o.key].informational]
    all_applies = [o for o in counted if o.decision == "apply"]
    good = sum(SCENARIO[o.key].truly_better for o in all_applies)
    lines.append(
        _figure(
            "precision of applies (informational classes and the post-apply watch left out)",
            good,
            len(all_applies),
            ">=",
            98,
            "applies truly better",
        )
    )
    unsure = [o for o in all_applies if o.delta_ci_low is not None and o.delta_ci_low <= 0]
    lines.append(
        _figure(
            "applies whose always-valid CI at the deciding look includes no change",
            len(unsure),
            len(all_applies),
            "<=",
            0,
        )
    )
    reviews = sum(o.decision == "review" for o in counted)
    lines.append(f"would go to review (REVIEW decisions): {reviews} of {len(counted)} patterns")

    aa = by["aa"]
    if aa:
        lines.append(_figure("A/A false applies", applies("aa"), len(aa), "<=", 1))
        harm = [o for o in aa if o.decision == "reject" and not o.reason.startswith("futile")]
        lines.append(
            f"A/A false harm rejects (significantly worse or a guardrail worse than its "
            f"margin): {_pct(len(harm), len(aa))} ({len(harm)} of {len(aa)}, no target)"
        )
    for key in ("aa", "aa_units"):
        if by[key]:
            lines.append(
                _figure(
                    f"false blocks (sample-ratio or logging check), {SCENARIO[key].label}",
                    blocks(key),
                    len(by[key]),
                    "<=",
                    1,
                )
            )
    if by["aa_units"]:
        n = len(by["aa_units"])
        lines.append(
            _figure(
                f"false applies, {SCENARIO['aa_units'].label} ({ZIPF_UNITS:,} units per arm, "
                f"Zipf s={ZIPF_EXPONENT:g}, SRM on distinct units)",
                applies("aa_units"),
                n,
                "<=",
                1,
            )
        )
    for s in SCENARIOS:
        if s.harmful and by[s.key]:
            lines.append(
                _figure(
                    f"applies of harmful class {s.label}", applies(s.key), len(by[s.key]), "<=", 1
                )
            )

    group = by["biased_loss"]
    if group:
        lines.append(
            _figure(
                "applies under outcome-biased loss, exposures recorded (truly no change; target 0)",
                applies("biased_loss"),
                len(group),
                "<=",
                0,
            )
        )
        at_one = sum(o.blocked and o.look == 1 for o in group)
        lines.append(
            _figure(
                "outcome-biased loss blocked at look 1 (logging-completeness check)",
                at_one,
                len(group),
                ">=",
                100,
            )
        )
    fallback = by["biased_loss_noexp"]
    if fallback:
        n = PER_ARM_PER_LOOK
        first = float(sequential_srm([n, round(n * (1 - LOSS_RATE))], [0.5, 0.5]).p_value)
        hits = applies("biased_loss_noexp")
        at = sorted(o.look for o in fallback if o.decision == "apply")
        lines.append(
            f"fallback without exposures (logged counts only), outcome-biased loss: applies "
            f"{_pct(hits, len(fallback))} ({hits} of {len(fallback)}"
            f"{', at looks ' + ', '.join(map(str, at)) if at else ''}), blocked "
            f"{blocks('biased_loss_noexp')} (median look "
            f"{_median_look([o for o in fallback if o.blocked])}); the logged-count check "
            f"gives p {first:.2g} at look 1 and flags below {SRM_P:g}, so it cannot stop a "
            "win at look 1 (informational, no target)"
        )
    if by["loss_one"]:
        lines.append(
            _figure(
                "random 20 % loss in the candidate arm blocked",
                blocks("loss_one"),
                len(by["loss_one"]),
                ">=",
                100,
                f"median look {_median_look([o for o in by['loss_one'] if o.blocked])}",
            )
        )
    if by["loss_both"]:
        lines.append(
            _figure(
                "random 20 % loss in both arms blocked",
                blocks("loss_both"),
                len(by["loss_both"]),
                "<=",
                0,
            )
        )
    if by["loss_both"] and by["loss_both_noexp"]:
        verdict, look, n = _same(by["loss_both"], by["loss_both_noexp"])
        lines.append(
            _figure(
                "random 20 % loss in both arms: same decision at the same look with and "
                "without exposure checks",
                look,
                n,
                ">=",
                100,
                f"same decision at any look: {verdict}",
            )
        )
    if by["split90"]:
        lines.append(_figure("90/10 split blocked", blocks("split90"), len(by["split90"]), "<=", 0))
    for key, bound in (("gain10", 90.0), ("gain30", 99.0)):
        if by[key]:
            lines.append(
                _figure(
                    f"power {SCENARIO[key].label} gain, applied by look {looks}",
                    applies(key),
                    len(by[key]),
                    ">=",
                    bound,
                )
            )
    for key in ("gain3", "split90", "no_scores", "loss_both", "loss_one"):
        if by[key]:
            n, hits = len(by[key]), applies(key)
            lines.append(
                f"power {SCENARIO[key].label}: {_pct(hits, n)} applied by look {looks} "
                f"({hits} of {n}, no target)"
            )
    corr = by["aa_units_corr"]
    if corr:
        n, hits = len(corr), applies("aa_units_corr")
        rejects = sum(o.decision == "reject" and not o.reason.startswith("futile") for o in corr)
        lines.append(
            f"informational, {SCENARIO['aa_units_corr'].label}: false applies {_pct(hits, n)} "
            f"({hits} of {n}), false harm rejects {_pct(rejects, n)}, blocked "
            f"{blocks('aa_units_corr')}; the validator treats executions as independent and "
            "does not model clustering by unit, so correlated units inflate its error rates "
            "(no target; not in precision)"
        )
    for key, base, what in (
        ("loss_both", "gain10", "random 20 % loss in both arms"),
        ("no_scores", "gain10", "no scores logged"),
    ):
        if by[key] and by[base]:
            verdict, look, n = _same(by[key], by[base])
            lines.append(
                f"{what}: same verdict as {SCENARIO[base].label} without it on the same "
                f"executions in {verdict} of {n} patterns (also at the same look: {look}; "
                "no target)"
            )
    return lines


def _median_look(group: Sequence[Outcome | WatchOutcome]) -> str:
    taken = sorted(o.look for o in group)
    return str(taken[len(taken) // 2]) if taken else "n/a"


def watch_report(done: Sequence[WatchOutcome]) -> list[str]:
    """The post-apply watch's figures."""
    by: dict[str, list[WatchOutcome]] = {w.key: [] for w in WATCH_SCENARIOS}
    for o in done:
        by[o.key].append(o)
    lines = []
    for w in WATCH_SCENARIOS:
        group = by[w.key]
        if group:
            back = [o for o in group if o.decision == "rollback"]
            named = Counter(m for o in back for m in o.inferior)
            lines.append(
                f"watch, {w.label} ({len(group)} patterns, {WATCH_PER_LOOK:,} executions per "
                f"look, holdback {HOLDBACK:.0%}, {WATCH_LOOKS} looks): rolled back "
                f"{_pct(len(back), len(group))} (median look {_median_look(back)}; guardrails "
                f"named: {', '.join(f'{m} {c}' for m, c in named.most_common()) or 'none'})"
            )
    regress = by["regress"]
    if regress:
        last = REGRESS_ONSET + ROLLBACK_WITHIN - 1
        early = sum(o.decision == "rollback" and o.look < REGRESS_ONSET for o in regress)
        hits = sum(o.decision == "rollback" and REGRESS_ONSET <= o.look <= last for o in regress)
        lines.append(
            _figure(
                f"post-apply regressions rolled back within {ROLLBACK_WITHIN} looks (onset at "
                f"watch look {REGRESS_ONSET}, rolled back by look {last})",
                hits,
                len(regress),
                ">=",
                95,
                f"{early} rolled back before the onset",
            )
        )
    better = by["watch10"] + by["watch30"]
    if better:
        lines.append(
            _figure(
                f"false rollbacks of truly better applies (10 % and 30 % faster, "
                f"{WATCH_LOOKS} looks)",
                sum(o.decision == "rollback" for o in better),
                len(better),
                "<=",
                2,
            )
        )
    return lines


# --------------------------------------------------------------------- end-to-end mode
_STATUS_DECISION = {
    "testing": "continue",
    "validated": "review",
    "applied": "apply",
    "rejected": "reject",
    "inconclusive": "inconclusive",
    "blocked": "block",
}

# A look's executions (and their assign calls) run from 5 minutes into its hour, 2.7 s apart
# per arm, so the last of 900 is at 45 min: well inside the closed exposure buckets the
# collector reads (from the candidate's first exposure, on a minute boundary here, to the
# run's as_of - 2 min).
_E2E_OFFSET = timedelta(minutes=5)
_E2E_SPACING = timedelta(minutes=45) / (2 * PER_ARM_PER_LOOK)


def _times(arm: LoggedArm, look: int, start: datetime, shift: int) -> list[datetime]:
    """When each execution routed during ``look`` starts (its assign call's time too)."""
    n = arm.routed_slice(look).stop - arm.routed_slice(look).start
    return [start + _E2E_OFFSET + (shift + j) * _E2E_SPACING for j in range(n)]


def _rows(pid: str, arm: LoggedArm, look: int, times: list[datetime]) -> list[dict[str, Any]]:
    """The arm's executions logged during ``look``, at their routed times."""
    part = arm.look_slice(look)
    positions = np.flatnonzero(arm.logged[arm.routed_slice(look)]).tolist()
    durations, ok, quality, costs = (
        arm.durations[part].tolist(),
        arm.ok[part].tolist(),
        arm.quality[part].tolist(),
        arm.costs[part].tolist(),
    )
    rows = []
    for j, duration in enumerate(durations):
        success = ok[j]
        score = quality[j]
        rows.append(
            {
                "execution_id": uuid.uuid4(),
                "pattern_id": pid,
                "version_id": arm.version_id,
                "started_at": times[positions[j]],
                "duration_ms": duration,
                "status": "success" if success else "failure",
                "quality_results": {} if math.isnan(score) else {"score": score},
                "error_message": None if success else "simulated failure",
                "cost_usd": costs[j],
            }
        )
    return rows


class _UnitKeys:
    """Unit keys that the pattern's allocation sends to a given version: the simulated unit
    ``u`` of an arm is that arm's ``u``-th such key (found on demand)."""

    def __init__(self, allocation: ModelTrafficAllocation) -> None:
        self._allocation = allocation
        self._keys: dict[str, list[str]] = {v: [] for v in allocation.version_ids}
        self._next = 0

    def key(self, version_id: str, unit: int) -> str:
        found = self._keys[version_id]
        while len(found) <= unit:
            key = f"u{self._next}"
            self._next += 1
            self._keys[self._allocation.choose(key)].append(key)
        return found[unit]


async def run_end_to_end(
    tasks: Sequence[tuple[str, int]],
    seed: int,
    *,
    looks: int = LOOKS,
    routing: Routing = "fixed",
    concurrency: int = 8,
    read_buckets: bool = True,
) -> dict[tuple[str, int], tuple[str, int]]:
    """Each (class key, index) through PostgreSQL and the service; returns its (decision,
    look): the first look whose run left the improvement out of testing. ``read_buckets``:
    the loop's statistics from the execution buckets (the default), else from raw rows."""
    patterns = {
        (key, index): simulate(SCENARIO[key], index, seed, looks=looks, routing=routing)
        for key, index in tasks
    }
    t0 = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=3)
    done: dict[tuple[str, int], tuple[str, int]] = {}
    async with (
        bench_pool(max_size=concurrency + 2) as pool,
        # Closing the service releases assign()'s listener connection.
        FeedbackLoopService(pool=pool, read_buckets=read_buckets) as service,
    ):
        ids: dict[str, tuple[str, int]] = {}
        keys: dict[str, _UnitKeys] = {}
        for key, index in tasks:
            scenario, pid = SCENARIO[key], pattern_id(SCENARIO[key], index)
            ids[pid] = (key, index)
            registered = await service.register(pid, {"variant": "control"}, actor="bench")
            proposal = ModelProposal(
                generator="bench",
                improvement_type=scenario.kind,
                description=scenario.label,
                config_diff={"variant": ModelConfigChange(old="control", new="candidate")},
                expected_delta=abs(scenario.truth_change),
            )
            async with service.runtime.connection() as conn:
                proposed = await service.runtime.lifecycle.execute_effect(
                    conn,
                    ModelLifecycleRequest(
                        pattern_id=pid,
                        events=(
                            ModelLifecycleEvent(
                                event=EnumLifecycleEvent.PROPOSE, proposals=(proposal,)
                            ),
                        ),
                        actor="bench",
                        candidate_traffic=scenario.share,
                    ),
                )
                allocation = await service.runtime.allocator.load(
                    conn, ModelAllocationRequest(pattern_id=pid)
                )
            keys[pid] = _UnitKeys(allocation)
            control, candidate = patterns[(key, index)]
            expected = (control.version_id, candidate.version_id)
            got = (registered.version_id, proposed.improvements[0].candidate_version_id)
            if got != expected:
                raise SystemExit(f"error: versions {got} are not the simulated {expected}")
        open_ids = dict(ids)
        for look in range(1, looks + 1):
            if not open_ids:
                break
            start = t0 + (look - 1) * LOOK_INTERVAL
            rows: list[dict[str, Any]] = []
            for pid, task in open_ids.items():
                control, candidate = patterns[task]
                # The candidate's first logged execution opens the SQL experiment: the
                # control's executions start with it, its lost ones (and their calls) before.
                first = int(np.argmax(candidate.logged))
                for arm, shift in ((control, first), (candidate, 0)):
                    times = _times(arm, look, start, shift)
                    if SCENARIO[task[0]].exposures:
                        units = arm.units[arm.routed_slice(look)].tolist()
                        for unit, at in zip(units, times, strict=True):
                            unit_key = keys[pid].key(arm.version_id, unit)
                            got_version = await service.assign(pid, unit_key, at=at)
                            if got_version != arm.version_id:
                                raise SystemExit(
                                    f"error: assign sent {unit_key} to {got_version}, "
                                    f"not {arm.version_id}"
                                )
                    rows += _rows(pid, arm, look, times)
            await service.flush_exposures()
            for chunk in range(0, len(rows), 200_000):
                await service.ingest(rows[chunk : chunk + 200_000])
            results = await service.run_many(
                [
                    ModelFeedbackLoopInput(
                        pattern_id=pid,
                        as_of=t0 + look * LOOK_INTERVAL,
                        significance_level=SIGNIFICANCE,
                        auto_apply_threshold=AUTO_APPLY,
                        min_sample_size=MIN_SAMPLE,
                        candidate_traffic=SCENARIO[task[0]].share,
                        actor="bench",
                    )
                    for pid, task in open_ids.items()
                ],
                concurrency=concurrency,
            )
            for pid, result in zip(list(open_ids), results, strict=True):
                if not result.success:
                    failure = f"error: {str((result.error or {}).get('message'))[:100]}"
                    done[open_ids.pop(pid)] = (failure, look)
            for improvement in await service.improvements(None):
                pid = improvement.pattern_id
                decision = _STATUS_DECISION.get(improvement.status.value, improvement.status.value)
                if pid in open_ids and decision != "continue":
                    done[open_ids.pop(pid)] = (decision, look)
        for task in open_ids.values():
            done[task] = ("continue", looks)
    return done


def e2e_report(
    e2e: dict[tuple[str, int], tuple[str, int]], in_process: dict[tuple[str, int], Outcome]
) -> list[str]:
    agree = 0
    lines = []
    by_class: dict[str, list[tuple[int, str]]] = {}
    for task, (decision, look) in sorted(e2e.items()):
        mine = in_process[task]
        if (mine.decision, mine.look) == (decision, look):
            agree += 1
        else:
            by_class.setdefault(task[0], []).append(
                (task[1], f"in process {mine.decision}@{mine.look}, e2e {decision}@{look}")
            )
    per_class = Counter(key for key, _ in e2e)
    lines.append(
        f"e2e agreement (PostgreSQL + FeedbackLoopService, {max(per_class.values(), default=0)}"
        f" pattern(s) per class, same seeds, exposures through assign()): {agree} of "
        f"{len(e2e)} reached the same decision at the same look as in process "
        f"{_target(agree, len(e2e), '>=', 100)}"
    )
    for key, misses in by_class.items():
        shown = "; ".join(f"#{i}: {text}" for i, text in misses[:5])
        lines.append(
            f"e2e disagreements, {SCENARIO[key].label}: {len(misses)} of {per_class[key]} ({shown})"
        )
    if any(text.split(", e2e ")[1].startswith("error") for m in by_class.values() for _, text in m):
        lines.append("e2e errors are loop runs that failed (success=False), not decisions")
    return lines


# ------------------------------------------------------------------------------- main
def plan(scale: float, keys: Iterable[str] | None = None) -> list[tuple[str, int]]:
    """(class key, pattern index) for every pattern of the run."""
    chosen = set(keys) if keys is not None else None
    return [
        (s.key, i)
        for s in SCENARIOS
        if chosen is None or s.key in chosen
        for i in range(max(1, round(s.patterns * scale)))
    ]


def plan_watches(scale: float) -> list[tuple[str, int]]:
    """(watch class key, pattern index) for every watched apply of the run."""
    return [(w.key, i) for w in WATCH_SCENARIOS for i in range(max(1, round(w.patterns * scale)))]


def _timed(label: str, fn: Callable[[], Any]) -> tuple[Any, str]:
    started = time.perf_counter()
    value = fn()
    return value, f"{label}: {time.perf_counter() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seed", type=int, default=1, help="reported runs use the default")
    parser.add_argument(
        "--patterns-scale", type=float, default=1.0, help="patterns per class x this"
    )
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument("--looks", type=int, default=LOOKS)
    parser.add_argument(
        "--routing",
        choices=("fixed", "binomial"),
        default="fixed",
        help="fixed: exactly 500 per arm per look; binomial: the split drawn per look",
    )
    parser.add_argument(
        "--e2e-patterns",
        type=int,
        default=20,
        help="per class, through PostgreSQL and assign() (default 20); 0: skip",
    )
    parser.add_argument("--concurrency", type=int, default=8, help="e2e run_many concurrency")
    parser.add_argument(
        "--e2e-raw",
        action="store_true",
        help="run the e2e seeds again with statistics from raw rows instead of buckets, and "
        "compare the two runs' decisions",
    )
    parser.add_argument("--only", choices=("process", "e2e"))
    args = parser.parse_args()
    if args.patterns_scale <= 0 or args.looks < 1:
        raise SystemExit("error: --patterns-scale must be > 0 and --looks >= 1")
    started = time.perf_counter()
    routing: Routing = args.routing
    tasks = plan(args.patterns_scale)
    watches = plan_watches(args.patterns_scale)
    print(
        f"decisions: {len(SCENARIOS)} classes, {len(tasks):,} patterns, {args.looks} looks x "
        f"{PER_ARM_PER_LOOK} executions per arm ({routing} split), alpha {SIGNIFICANCE}, "
        f"auto-apply {AUTO_APPLY}, min sample {MIN_SAMPLE}, default objective; seed {args.seed}",
        flush=True,
    )
    print(
        f"truth: lognormal durations (median {MEDIAN_MS:g} ms, sigma {SIGMA}), "
        f"{FAILURE:.0%} failures, quality N({QUALITY}, {QUALITY_SD}) clipped to [0, 1] on "
        f"successes, cost lognormal CV {COST_CV}; truly better = target better in truth and "
        "within the reference margins (success rate -2 pts, mean +10 %, p95 +20 %, quality "
        "-0.03, cost +10 %); user ratings are never logged",
        flush=True,
    )
    print(
        f"watch: {len(WATCH_SCENARIOS)} classes, {len(watches):,} applied versions, up to "
        f"{WATCH_LOOKS} looks x {WATCH_PER_LOOK:,} executions ({HOLDBACK:.0%} to the previous "
        "version), every guardrail at alpha / 6, cumulative since the apply",
        flush=True,
    )
    outcomes: dict[tuple[str, int], Outcome] = {}
    if args.only != "e2e":
        both, timing = _timed(
            f"wall time in process, decisions and watch ({args.workers} workers)",
            lambda: _run(
                tasks + watches, args.seed, workers=args.workers, looks=args.looks, routing=routing
            ),
        )
        done = [o for o in both if isinstance(o, Outcome)]
        outcomes = {(o.key, o.index): o for o in done}
        for line in report(done, args.looks):
            print(line, flush=True)
        for line in watch_report([o for o in both if isinstance(o, WatchOutcome)]):
            print(line, flush=True)
        print(timing, flush=True)
    if args.only != "process" and args.e2e_patterns > 0:
        e2e_tasks = [(s.key, i) for s in SCENARIOS for i in range(args.e2e_patterns)]
        missing = [t for t in e2e_tasks if t not in outcomes]
        for o in run_in_process(
            missing, args.seed, workers=args.workers, looks=args.looks, routing=routing
        ):
            outcomes[(o.key, o.index)] = o

        def end_to_end(read_buckets: bool) -> dict[tuple[str, int], tuple[str, int]]:
            return asyncio.run(
                run_end_to_end(
                    e2e_tasks,
                    args.seed,
                    looks=args.looks,
                    routing=routing,
                    concurrency=args.concurrency,
                    read_buckets=read_buckets,
                )
            )

        e2e, timing = _timed("wall time e2e", lambda: end_to_end(True))
        for line in e2e_report(e2e, outcomes):
            print(line, flush=True)
        print(timing, flush=True)
        if args.e2e_raw:
            raw, timing = _timed("wall time e2e, raw rows", lambda: end_to_end(False))
            differ = sorted(t for t in e2e_tasks if e2e[t] != raw[t])
            print(
                f"e2e buckets vs raw rows: {len(e2e_tasks) - len(differ)} of {len(e2e_tasks)} "
                "same decision at the same look",
                flush=True,
            )
            for task in differ:
                print(f"  {task}: buckets {e2e[task]}, raw rows {raw[task]}", flush=True)
            print(timing, flush=True)
    print(f"wall time total: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main()
