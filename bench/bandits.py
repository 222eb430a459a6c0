"""Learned routing, measured: one figure per line.

- Regret against MABWiser (a bench-only dependency: ``pip install -e '.[bench]'``) on Bernoulli
  arms 0.1 .. 0.5 over 10,000 rounds: mean cumulative (pseudo-)regret ``sum_t (0.5 - p[arm_t])``
  per seed, ours / MABWiser's with the 90 % CI of the ratio (delta method on the log ratio; the
  CI inside the bounds is the two one-sided tests at 5 % each), and each side's coefficient of
  variation across seeds. Our policies run all seeds at once (the maths is vectorised over a
  batch axis); MABWiser one seed at a time, in worker processes.
- Gaussian Thompson against its closed-form posterior (MABWiser's Thompson is binary only).
- LinTS (diagonal) against context-free Thompson on a linear contextual problem.
- ``LearningEngine`` with persistence: decisions per second (select_model + record_outcome,
  3 arms, flushes and the decision log inside the timed window, counts checked in the
  database), p99 select_model latency with the flusher running, time to flush 1,000 arms
  (their deltas appended) and to fold those deltas into the arms' rows.

Run: ``python bench/bandits.py`` (about 10 minutes on 2 cores), ``--quick`` for a smoke run,
``--seeds N`` to set the seed count, ``--only regret|gaussian|lints|engine``, ``--policy
NAME`` for one policy's regret.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
from scipy import stats

from bench._db import bench_pool
from contracts.enum_routing import EnumRewardKind
from contracts.model_routing import ModelBanditSettings, ModelLearningSettings
from nodes import LearningEngine
from nodes.compute.node_bandit_compute import (
    Choices,
    FloatArray,
    epsilon_greedy,
    gaussian_posterior,
    lints_diag,
    thompson,
    ucb1,
)

P = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
ROUNDS = 10_000
SIMULATION = ModelBanditSettings(propensity_draws=0)  # the regret does not need propensities
Policy = Callable[[FloatArray, FloatArray, np.random.Generator], Choices]
OURS: dict[str, Policy] = {
    "epsilon-greedy": lambda n, s, rng: epsilon_greedy(n, s, 0.1, rng),
    "UCB1": lambda n, s, rng: ucb1(n, s, 1.0, rng),
    "Thompson": lambda n, s, rng: thompson(n, s, SIMULATION, rng),
}
FLUSH_ROUNDS = 9  # timed flushes and folds of 1,000 arms (after a first one that creates them)
YIELD_EVERY = 100  # decisions between two yields to the event loop in the engine figures
BOUNDS = {"epsilon-greedy": (0.85, 1.15), "UCB1": (0.85, 1.15), "Thompson": (0.8, 1.25)}


def our_regret(name: str, seeds: int, rounds: int, seed: int = 0) -> FloatArray:
    """Cumulative pseudo-regret of each of ``seeds`` independent runs, simulated together."""
    rng = np.random.default_rng(seed)
    pulls = np.zeros((seeds, P.size))
    sums = np.zeros((seeds, P.size))
    rows = np.arange(seeds)
    regret = np.zeros(seeds)
    for _ in range(rounds):
        arms = OURS[name](pulls, sums, rng).arms
        pulls[rows, arms] += 1
        sums[rows, arms] += rng.random(seeds) < P[arms]
        regret += P.max() - P[arms]
    return regret


def mabwiser_regret(job: tuple[str, int, int]) -> float:
    """One MABWiser run: predict and partial_fit every round, after a first fit (MABWiser
    predicts only once fitted): for UCB1 one pull of each arm, textbook UCB1's start (and what
    ours does by itself: MABWiser's UCB1 scores an arm never fitted 0, so from one random arm
    it may never try the others); for the others one arm drawn uniformly."""
    from mabwiser.mab import MAB, LearningPolicy

    name, seed, rounds = job
    policy = {
        "epsilon-greedy": LearningPolicy.EpsilonGreedy(epsilon=0.1),
        "UCB1": LearningPolicy.UCB1(alpha=1.0),
        "Thompson": LearningPolicy.ThompsonSampling(),
    }[name]
    rng = np.random.default_rng(10_000 + seed)
    mab = MAB(list(range(P.size)), policy, seed=seed)
    first = list(range(P.size)) if name == "UCB1" else [int(rng.integers(P.size))]
    mab.fit(first, [float(rng.random() < P[arm]) for arm in first])
    regret = float(sum(P.max() - P[arm] for arm in first))
    for _ in range(rounds - len(first)):
        arm = int(mab.predict())
        mab.partial_fit([arm], [float(rng.random() < P[arm])])
        regret += P.max() - P[arm]
    return float(regret)


def ratio_ci(ours: FloatArray, theirs: FloatArray) -> tuple[float, float, float]:
    """Ratio of mean regrets and its 90 % CI (delta method on the log of the ratio)."""
    ratio = ours.mean() / theirs.mean()
    se = np.sqrt(
        ours.var(ddof=1) / (ours.size * ours.mean() ** 2)
        + theirs.var(ddof=1) / (theirs.size * theirs.mean() ** 2)
    )
    z = stats.norm.ppf(0.95)
    return float(ratio), float(ratio * np.exp(-z * se)), float(ratio * np.exp(z * se))


def regret_figures(seeds: dict[str, int], rounds: int, workers: int) -> None:
    jobs = [(name, s, rounds) for name, n in seeds.items() for s in range(n)]
    with ProcessPoolExecutor(workers) as pool:
        theirs_all = list(pool.map(mabwiser_regret, jobs, chunksize=4))
    for name, n in seeds.items():
        theirs = np.array(
            [r for (job_name, _, _), r in zip(jobs, theirs_all, strict=True) if job_name == name]
        )
        ours = our_regret(name, n, rounds)
        ratio, low, high = ratio_ci(ours, theirs)
        lo_bound, hi_bound = BOUNDS[name]
        verdict = "equivalent" if lo_bound <= low and high <= hi_bound else "NOT shown equivalent"
        print(
            f"{name} vs MABWiser, {n} seeds x {rounds:,} rounds: mean regret ours "
            f"{ours.mean():.1f} (CV {ours.std(ddof=1) / ours.mean():.2f}), MABWiser "
            f"{theirs.mean():.1f} (CV {theirs.std(ddof=1) / theirs.mean():.2f}), ratio "
            f"{ratio:.3f}, 90 % CI [{low:.3f}, {high:.3f}]: {verdict} within "
            f"[{lo_bound}, {hi_bound}]"
        )


def gaussian_figures(rounds: int) -> None:
    """The posterior after a run, against the conjugate update one reward at a time, and the
    choice frequencies of two arms against Phi((m1 - m2) / sqrt(s1^2 + s2^2))."""
    rng = np.random.default_rng(1)
    settings = ModelBanditSettings(reward_kind=EnumRewardKind.CONTINUOUS, propensity_draws=0)
    means = np.array([0.3, 0.5, 0.55])
    pulls, sums = np.zeros((1, 3)), np.zeros((1, 3))
    seen: list[list[float]] = [[], [], []]
    for _ in range(rounds):
        arm = int(thompson(pulls, sums, settings, rng).arms[0])
        reward = rng.normal(means[arm], 0.5)
        seen[arm].append(reward)
        pulls[0, arm] += 1
        sums[0, arm] += reward
    m0, s0 = settings.gaussian_prior
    worst = 0.0
    for arm in range(3):
        mean, var = m0, s0**2
        for r in seen[arm]:
            precision = 1 / var + 1 / settings.noise_sd**2
            mean, var = (mean / var + r / settings.noise_sd**2) / precision, 1 / precision
        closed_mean, closed_sd = gaussian_posterior(
            pulls[:, [arm]], sums[:, [arm]], settings.gaussian_prior, settings.noise_sd
        )
        worst = max(worst, abs(closed_mean[0, 0] - mean), abs(closed_sd[0, 0] - np.sqrt(var)))
    print(
        f"Gaussian Thompson, {rounds:,} rounds on N(0.3 | 0.5 | 0.55, 0.5): posterior from sums "
        f"vs the conjugate update reward by reward: max difference {worst:.1e}; pulls "
        f"{', '.join(f'{int(n):,}' for n in pulls[0])}"
    )
    n = 200_000
    two_pulls, two_sums = np.tile([[40.0, 10.0]], (n, 1)), np.tile([[22.0, 4.0]], (n, 1))
    mu, sd = gaussian_posterior(
        two_pulls[:1], two_sums[:1], settings.gaussian_prior, settings.noise_sd
    )
    exact = float(stats.norm.cdf((mu[0, 0] - mu[0, 1]) / np.hypot(sd[0, 0], sd[0, 1])))
    chosen = float((thompson(two_pulls, two_sums, settings, rng).arms == 0).mean())
    print(
        f"Gaussian Thompson choice probability vs closed form (two arms, {n:,} draws): "
        f"{chosen:.4f} vs {exact:.4f} (difference {abs(chosen - exact):.4f}, "
        f"standard error {np.sqrt(exact * (1 - exact) / n):.4f})"
    )


def lints_figures(seeds: int, rounds: int) -> None:
    """A linear problem: 5 arms, 5 features (a bias and 4 standard normals), rewards
    ``x . theta_k + N(0, 0.5)``; regret against the best arm for each context."""
    rng = np.random.default_rng(2)
    k, d = 5, 5
    theta = rng.normal(0, 0.5, size=(seeds, k, d))
    settings = ModelBanditSettings(
        reward_kind=EnumRewardKind.CONTINUOUS, propensity_draws=0, lints_v=0.5
    )
    a, b = np.zeros((seeds, k, d)), np.zeros((seeds, k, d))
    pulls, sums = np.zeros((seeds, k)), np.zeros((seeds, k))
    rows = np.arange(seeds)
    regret = {"LinTS": np.zeros(seeds), "Thompson": np.zeros(seeds)}
    marks: dict[int, dict[str, float]] = {}
    for t in range(1, rounds + 1):
        x = np.concatenate([np.ones((seeds, 1)), rng.normal(size=(seeds, d - 1))], axis=1)
        expected = (theta * x[:, None, :]).sum(axis=2)
        best = expected.max(axis=1)
        arm = lints_diag(a, b, x, settings, rng).arms
        reward = expected[rows, arm] + rng.normal(0, 0.5, seeds)
        a[rows, arm] += x**2
        b[rows, arm] += reward[:, None] * x
        regret["LinTS"] += best - expected[rows, arm]
        plain = thompson(pulls, sums, settings, rng).arms
        pulls[rows, plain] += 1
        sums[rows, plain] += expected[rows, plain] + rng.normal(0, 0.5, seeds)
        regret["Thompson"] += best - expected[rows, plain]
        if t in (rounds // 10, rounds // 2, rounds):
            marks[t] = {name: float(r.mean()) for name, r in regret.items()}
    first, half, last = (marks[t]["LinTS"] for t in sorted(marks))
    slope = np.log(last / half) / np.log(2)
    print(
        f"LinTS (diagonal) vs context-free Thompson, {seeds} seeds, 5 arms x 5 features: mean "
        f"regret at {rounds // 10:,} / {rounds // 2:,} / {rounds:,} rounds LinTS {first:.1f} / "
        f"{half:.1f} / {last:.1f} (log-log slope over the second half {slope:.2f}: sublinear "
        f"if < 1), Thompson {marks[rounds]['Thompson']:.1f}: LinTS ends "
        f"{'below' if last < marks[rounds]['Thompson'] else 'NOT below'}"
    )


async def engine_figures(decisions: int) -> None:
    arms = ["small", "medium", "large"]
    truth = {"small": 0.3, "medium": 0.5, "large": 0.7}
    world = np.random.default_rng(3)
    rewards = world.random(decisions)
    async with bench_pool() as pool:
        settings = ModelLearningSettings(
            seed=4, enable_experiment_harness=False, enable_rl_lints=False
        )
        start = time.perf_counter()
        async with LearningEngine(pool=pool, settings=settings) as engine:
            for i in range(decisions):
                arm = await engine.select_model("bench", arms)
                await engine.record_outcome("bench", arm, float(rewards[i] < truth[arm]))
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)  # as a server would between requests: flushes run
        elapsed = time.perf_counter() - start  # includes the flushes and the close's last one
        pulls = await pool.fetchval(
            "SELECT sum(pulls)::bigint FROM routing_arm_totals WHERE domain = 'bench'"
        )
        logged = await pool.fetchval(
            "SELECT count(*) FROM routing_decisions WHERE domain = 'bench' AND propensity > 0"
        )
        assert pulls == decisions and logged == decisions, (pulls, logged)
        print(
            f"LearningEngine, epsilon-greedy over 3 arms, persistence on: "
            f"{decisions / elapsed:,.0f} decisions/s ({decisions:,} select_model + "
            f"record_outcome, flushes and the decision log inside the window; {pulls:,} pulls "
            f"and {logged:,} logged decisions with propensities in the database)"
        )
        latencies = np.empty(decisions)
        busy = settings.model_copy(update={"flush_interval_s": 0.2, "refresh_interval_s": 0.2})
        async with LearningEngine(pool=pool, settings=busy) as engine:
            for i in range(decisions):
                begin = time.perf_counter_ns()
                arm = await engine.select_model("latency", arms)
                latencies[i] = time.perf_counter_ns() - begin
                await engine.record_outcome("latency", arm, float(rewards[i] < truth[arm]))
                if i % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
            batches = engine.batches
        print(
            f"select_model latency with the flusher running (every 0.2 s: {batches} flushes "
            f"and refreshes among the {decisions:,} decisions): p50 "
            f"{np.percentile(latencies, 50) / 1e3:.1f} us, p99 "
            f"{np.percentile(latencies, 99) / 1e3:.1f} us"
        )
        times: list[float] = []
        folds: list[float] = []
        manual = settings.model_copy(update={"flush_interval_s": 3600, "refresh_interval_s": 3600})
        async with LearningEngine(pool=pool, settings=manual) as engine:  # flushed and folded here
            await engine.fold()  # what the engines above left unfolded
            for round_ in range(FLUSH_ROUNDS + 1):
                for i in range(1_000):
                    await engine.record_outcome("wide", f"arm-{i}", float(round_ % 2))
                flush_start = time.perf_counter()
                await engine.flush()
                times.append(time.perf_counter() - flush_start)
                fold_start = time.perf_counter()
                folded = await engine.fold()
                folds.append(time.perf_counter() - fold_start)
                assert folded == 1_000, folded
        print(
            f"flush of 1,000 arms' deltas (one transaction, deltas appended): median "
            f"{np.median(times[1:]) * 1e3:.1f} ms over {FLUSH_ROUNDS} (the first "
            f"{times[0] * 1e3:.1f} ms)"
        )
        print(
            f"fold of 1,000 arms' appended deltas into their rows (once per refresh interval, "
            f"one process at a time): median {np.median(folds[1:]) * 1e3:.1f} ms over "
            f"{FLUSH_ROUNDS} (the first, creating the rows, {folds[0] * 1e3:.1f} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few seeds and rounds: a smoke run")
    parser.add_argument("--seeds", type=int, help="seeds per policy (default 200; Thompson 300)")
    parser.add_argument("--only", choices=("regret", "gaussian", "lints", "engine"))
    parser.add_argument("--policy", choices=list(OURS), help="regret: this policy only")
    parser.add_argument("--workers", type=int, default=2, help="MABWiser processes")
    args = parser.parse_args()
    rounds = 2_000 if args.quick else ROUNDS
    base = args.seeds or (20 if args.quick else 200)
    seeds = {"epsilon-greedy": base, "UCB1": base, "Thompson": args.seeds or base * 3 // 2}
    if args.policy:
        seeds = {args.policy: seeds[args.policy]}
    if args.only in (None, "regret"):
        regret_figures(seeds, rounds, args.workers)
    if args.only in (None, "gaussian"):
        gaussian_figures(rounds)
    if args.only in (None, "lints"):
        lints_figures(20 if args.quick else 50, rounds)
    if args.only in (None, "engine"):
        asyncio.run(engine_figures(20_000 if args.quick else 200_000))


if __name__ == "__main__":
    main()
