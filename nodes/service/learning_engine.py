"""``LearningEngine``: learned routing with its state shared in PostgreSQL.

``select_model(domain, candidates)`` and ``record_outcome(domain, model, reward)`` work on
in-process state only (no round trip; a domain's first use in a process reads it once). A
background task writes what was learned, as additive deltas, and the decision log, every
``flush_interval_s`` (default 1 s), one transaction per flush, and reads what other processes
wrote every ``refresh_interval_s`` (default 1 s). Deltas are appended (a COPY); the same task
folds everybody's appended deltas into the arms' rows once per refresh interval (one process at
a time), and readers add what is not folded yet. So:

- a process killed with -9 loses at most the last flush interval of outcomes and decisions;
- nothing is counted twice: each batch carries the writer's id and a sequence number stored in
  its own transaction, and a batch whose COMMIT outcome was lost is retried under the same key,
  which the store recognises;
- counts from any number of processes add up exactly (``pulls = pulls + delta`` in SQL);
- another process sees new state within one flush interval plus one refresh interval.

Each decision is logged with its propensity (the probability the deciding policy gave the arm)
for off-policy evaluation. ``regret_sum`` adds, per recorded outcome of an arm, the best arm's
posterior mean minus this arm's, both as estimated just before the outcome (arms without pulls
have no estimate; an arm's first outcome adds 0).

Flags: ``ENABLE_EXPERIMENT_HARNESS`` runs every policy of a domain side by side, each decision
by one drawn uniformly (logged as ``policy`` with its ``policy_share``), each outcome credited
to the policy that made the decision; ``ENABLE_RL_LINTS`` allows LinTS. ``freeze(domain)`` stops
learning and serves the arm that was best when frozen, in every process after its refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import numpy as np
import structlog

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_routing import EnumRoutingPolicy
from contracts.model_onex_error import ModelOnexError
from contracts.model_routing import (
    ModelArmDeltas,
    ModelArmState,
    ModelDecisionLog,
    ModelLearningSettings,
    ModelRoutingContext,
    ModelRoutingDecision,
    ModelRoutingDomainState,
    ModelRoutingFlush,
    ModelRoutingFlushed,
    ModelRoutingStats,
    decision_id,
)
from nodes.compute.bandit_policies import POLICY_CLASSES, BanditPolicy
from nodes.effect.node_routing_store_effect import NodeRoutingStoreEffect
from nodes.runtime.runtime import FeedbackLoopRuntime
from nodes.service.runtime_client import RuntimeClient

log = structlog.get_logger(__name__)

FROZEN_POLICY = "frozen"  # the policy name logged for decisions of a frozen domain
_TRUE = {"1", "true", "yes", "on"}


def flag(name: str, value: bool | None) -> bool:
    """A feature flag: the settings' value, else the environment variable ``name``."""
    if value is not None:
        return value
    return os.environ.get(name, "").strip().lower() in _TRUE


@dataclass
class _Delta:
    pulls: int = 0
    reward_sum: float = 0.0
    regret_sum: float = 0.0
    lints_a: np.ndarray[Any, np.dtype[np.float64]] | None = None
    lints_b: np.ndarray[Any, np.dtype[np.float64]] | None = None


@dataclass
class _Domain:
    name: str
    policy: EnumRoutingPolicy
    epoch: int
    variants: dict[str, BanditPolicy]
    frozen: bool = False
    frozen_arm: str | None = None
    # Per arm: (variant, context) of decisions not yet rewarded, oldest first.
    pending: dict[str, deque[tuple[str, ModelRoutingContext | None]]] = field(default_factory=dict)


class LearningEngine(RuntimeClient):
    """``LearningEngine(runtime)``, ``(pool=...)``, ``(dsn=...)`` or ``()`` as the service;
    ``settings`` chooses policies, intervals and flags. Use ``async with`` or ``close()``: the
    close writes what is still buffered."""

    def __init__(
        self,
        runtime: FeedbackLoopRuntime | None = None,
        *,
        settings: ModelLearningSettings | None = None,
        **runtime_options: Any,
    ) -> None:
        settings = settings or ModelLearningSettings()
        self.harness = flag("ENABLE_EXPERIMENT_HARNESS", settings.enable_experiment_harness)
        self.lints_enabled = flag("ENABLE_RL_LINTS", settings.enable_rl_lints)
        for policy in (settings.default_policy, *settings.policies.values()):
            self._check_enabled(policy)
        self.settings = settings
        super().__init__(runtime, **runtime_options)
        self._store = NodeRoutingStoreEffect()
        self._rng = np.random.default_rng(settings.seed)
        self.writer_id = uuid4()
        self._decisions = 0
        self._seq = 0
        self._domains: dict[str, _Domain] = {}
        self._new_domains: dict[str, EnumRoutingPolicy] = {}
        self._deltas: dict[tuple[str, int, str, str], _Delta] = {}
        self._log: list[tuple[int, str, str, str, float, float, list[float] | None, float]] = []
        self._inflight: ModelRoutingFlush | None = None
        self._flush_lock = asyncio.Lock()
        self._background: asyncio.Task[None] | None = None

    def _check_enabled(self, policy: EnumRoutingPolicy) -> None:
        if policy is EnumRoutingPolicy.LINTS and not self.lints_enabled:
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT,
                "LinTS is disabled: set ENABLE_RL_LINTS=1 or "
                "ModelLearningSettings(enable_rl_lints=True)",
            )

    @property
    def batches(self) -> int:
        """Batches this engine has started writing (each one flush)."""
        return self._seq

    def policy_of(self, domain: str) -> EnumRoutingPolicy:
        return self.settings.policies.get(domain, self.settings.default_policy)

    # ----------------------------------------------------------------- decisions
    async def select_model(
        self,
        domain: str,
        candidates: Sequence[str],
        context: ModelRoutingContext | None = None,
    ) -> str:
        """The candidate to serve; logged with its propensity."""
        return (await self._decide(domain, candidates, context))[1]

    async def decide(
        self,
        domain: str,
        candidates: Sequence[str],
        context: ModelRoutingContext | None = None,
    ) -> ModelRoutingDecision:
        """``select_model`` with the whole logged decision."""
        number, arm, policy, propensity, share, at = await self._decide(domain, candidates, context)
        return ModelRoutingDecision(
            decision_id=UUID(hex=decision_id(self.writer_id, number)),
            domain=domain,
            policy=policy,
            arm=arm,
            propensity=propensity,
            policy_share=share,
            context=context,
            decided_at=datetime.fromtimestamp(at, UTC),
        )

    async def _decide(
        self, name: str, candidates: Sequence[str], context: ModelRoutingContext | None
    ) -> tuple[int, str, str, float, float, float]:
        domain = self._domains.get(name) or await self._open(name)
        self._start_background()
        if domain.frozen:
            arm = domain.frozen_arm
            if arm is None or arm not in candidates:
                arm = domain.variants[domain.policy.value].best_arm(candidates)
            policy, propensity, share = FROZEN_POLICY, 1.0, 1.0
        else:
            policy, share = self._variant(domain, context)
            arm, propensity = domain.variants[policy].choose(candidates, context)
            queue = domain.pending.get(arm)
            if queue is None:
                queue = domain.pending[arm] = deque(maxlen=self.settings.max_pending_outcomes)
            queue.append((policy, context))
        self._decisions += 1
        at = time.time()
        features = None if context is None else list(context.features)
        self._log.append((self._decisions, name, policy, arm, propensity, share, features, at))
        return self._decisions, arm, policy, propensity, share, at

    def _variant(self, domain: _Domain, context: ModelRoutingContext | None) -> tuple[str, float]:
        """The deciding policy and the probability it was drawn (the harness draws uniformly
        among the policies that can decide: LinTS only with a context)."""
        if len(domain.variants) == 1:
            return domain.policy.value, 1.0
        names = [n for n in domain.variants if context is not None or n != EnumRoutingPolicy.LINTS]
        return names[int(self._rng.integers(len(names)))], 1.0 / len(names)

    async def record_outcome(
        self,
        domain: str,
        model: str,
        reward: float,
        *,
        context: ModelRoutingContext | None = None,
    ) -> None:
        """Learn from the reward of serving ``model``. It is credited to the oldest decision
        for that model not yet rewarded (its policy and context; ``context`` overrides it);
        ignored while the domain is frozen."""
        if not math.isfinite(reward):
            raise ModelOnexError(
                EnumErrorCode.INVALID_INPUT, f"reward: must be finite, got {reward}"
            )
        state = self._domains.get(domain) or await self._open(domain)
        self._start_background()
        if state.frozen:
            return
        queue = state.pending.get(model)
        policy, decided_context = queue.popleft() if queue else (state.policy.value, None)
        context = context or decided_context
        regret = state.variants[policy].learn(model, reward, context)
        key = (domain, state.epoch, policy, model)
        delta = self._deltas.get(key)
        if delta is None:
            delta = self._deltas[key] = _Delta()
        delta.pulls += 1
        delta.reward_sum += reward
        delta.regret_sum += regret
        if policy == EnumRoutingPolicy.LINTS and context is not None:
            x = np.asarray(context.features)
            delta.lints_a = x * x if delta.lints_a is None else delta.lints_a + x * x
            delta.lints_b = reward * x if delta.lints_b is None else delta.lints_b + reward * x

    # ------------------------------------------------------------------ domains
    def _new_policies(self, policy: EnumRoutingPolicy) -> dict[str, BanditPolicy]:
        chosen = list(POLICY_CLASSES) if self.harness else [policy]
        if not self.lints_enabled:
            chosen = [p for p in chosen if p is not EnumRoutingPolicy.LINTS]
        return {
            p.value: POLICY_CLASSES[p](rng=self._rng, settings=self.settings.bandit) for p in chosen
        }

    async def _open(self, name: str) -> _Domain:
        """A domain's first use in this process: its stored state, read once."""
        policy = self.policy_of(name)
        async with self.runtime.connection() as conn:
            stored = (await self._store.load(conn, [name])).get(name)
        if name in self._domains:  # opened by a concurrent call meanwhile
            return self._domains[name]
        domain = _Domain(name, policy, 0 if stored is None else stored.epoch, {})
        domain.variants = self._new_policies(policy)
        if stored is None:
            self._new_domains[name] = policy
        else:
            self._merge(domain, stored)
        self._domains[name] = domain
        return domain

    def _merge(self, domain: _Domain, stored: ModelRoutingDomainState) -> None:
        """Stored state plus what this process learned and has not written yet."""
        if stored.epoch != domain.epoch:  # reset elsewhere: start over from the stored state
            domain.epoch = stored.epoch
            domain.variants = self._new_policies(domain.policy)
            domain.pending.clear()
        domain.frozen, domain.frozen_arm = stored.frozen, stored.frozen_arm
        for name, policy in domain.variants.items():
            states = {s.arm: s for s in stored.variants.get(name, [])}
            arms = set(states) | set(policy.arms)
            policy.load(
                self._with_delta(
                    states.get(arm) or ModelArmState(arm=arm, pulls=0),
                    self._deltas.get((domain.name, domain.epoch, name, arm)),
                )
                for arm in arms
            )

    @staticmethod
    def _with_delta(state: ModelArmState, delta: _Delta | None) -> ModelArmState:
        if delta is None:
            return state
        update: dict[str, Any] = {
            "pulls": state.pulls + delta.pulls,
            "reward_sum": state.reward_sum + delta.reward_sum,
        }
        if delta.lints_a is not None and delta.lints_b is not None:
            a = np.asarray(state.lints_a or np.zeros_like(delta.lints_a)) + delta.lints_a
            b = np.asarray(state.lints_b or np.zeros_like(delta.lints_b)) + delta.lints_b
            update |= {"lints_a": tuple(a.tolist()), "lints_b": tuple(b.tolist())}
        return state.model_copy(update=update)

    async def refresh(self) -> None:
        """Read every open domain's shared state (what other processes flushed, resets,
        freezes). Skipped while a batch's outcome is unknown (it may or may not be stored)."""
        async with self._flush_lock:
            if self._inflight is not None or not self._domains:
                return
            async with self.runtime.connection() as conn:
                stored = await self._store.load(conn, list(self._domains))
            for name, state in stored.items():
                self._merge(self._domains[name], state)
            stale = [k for k in self._deltas if k[1] != self._domains[k[0]].epoch]
            for key in stale:
                del self._deltas[key]

    # ---------------------------------------------------------------- flushing
    def _start_background(self) -> None:
        if self._background is None or self._background.done():
            self._background = asyncio.get_running_loop().create_task(self._run_background())

    async def _run_background(self) -> None:
        """Flush every ``flush_interval_s``, refresh every ``refresh_interval_s``; a failure
        is logged and its batch kept for the next attempt."""
        next_refresh = time.monotonic() + self.settings.refresh_interval_s
        while True:
            await asyncio.sleep(self.settings.flush_interval_s)
            try:
                await self.flush()
                if time.monotonic() >= next_refresh:
                    next_refresh = time.monotonic() + self.settings.refresh_interval_s
                    await self.refresh()
                    await self.fold()
            except Exception as exc:  # the request path must not fail for its bookkeeping
                log.warning("routing_flush_failed", error=str(exc))

    async def flush(self) -> ModelRoutingFlushed | None:
        """Write what is buffered now (after retrying a batch whose outcome is unknown)."""
        async with self._flush_lock:
            result = None
            if self._inflight is not None:
                result = await self._write(self._inflight)
            batch = self._take_batch()
            if batch is not None:
                self._inflight = batch
                result = await self._write(batch)
            return result

    async def fold(self) -> int | None:
        """Add the deltas every process has appended to the arms' rows (what flushes write is
        appended, which is cheaper than updating rows in place; readers add what is not folded
        yet). Run by the background task once per refresh interval; None when another process
        was folding."""
        async with self.runtime.connection() as conn:
            return await self._store.fold(conn)

    async def _write(self, batch: ModelRoutingFlush) -> ModelRoutingFlushed:
        async with self.runtime.connection() as conn:
            result = await self._store.flush(conn, batch)
        self._inflight = None
        return result

    def _take_batch(self) -> ModelRoutingFlush | None:
        if not (self._deltas or self._log or self._new_domains):
            return None
        deltas, decisions = self._deltas, self._log
        self._deltas, self._log = {}, []
        keys = list(deltas)
        learned = list(deltas.values())
        columns: list[tuple[Any, ...]] = list(zip(*decisions, strict=True)) or [()] * 8
        numbers, domains, policies, arms, propensities, shares, contexts, times = columns
        batch = ModelRoutingFlush(
            writer_id=self.writer_id,
            seq=self._seq,
            domains=self._new_domains,
            deltas=ModelArmDeltas(
                domains=[k[0] for k in keys],
                epochs=[k[1] for k in keys],
                policies=[k[2] for k in keys],
                arms=[k[3] for k in keys],
                pulls=[d.pulls for d in learned],
                reward_sums=[d.reward_sum for d in learned],
                regret_sums=[d.regret_sum for d in learned],
                lints={
                    i: (d.lints_a.tolist(), d.lints_b.tolist())
                    for i, d in enumerate(learned)
                    if d.lints_a is not None and d.lints_b is not None
                },
            ),
            decisions=ModelDecisionLog(
                numbers=list(numbers),
                domains=list(domains),
                policies=list(policies),
                arms=list(arms),
                propensities=list(propensities),
                policy_shares=list(shares),
                contexts=list(contexts),
                decided_at=[datetime.fromtimestamp(t, UTC) for t in times],
            ),
        )
        self._seq += 1
        self._new_domains = {}
        return batch

    # ------------------------------------------------------------------ control
    async def stats(self, domain: str) -> ModelRoutingStats:
        """The domain's shared statistics, after writing this process's buffer."""
        await self.flush()
        async with self.runtime.connection() as conn:
            return await self._store.stats(conn, domain)

    async def reset(self, domain: str) -> None:
        """Forget what every process learned in ``domain`` (decisions stay logged); processes
        start over from cold at their next refresh, this one at once."""
        await self.flush()
        async with self.runtime.connection() as conn:
            await self._store.reset(conn, domain)
        await self.refresh()

    async def freeze(self, domain: str) -> str | None:
        """Stop learning in ``domain`` and serve its current best arm (by posterior mean of
        the domain's policy; returned, None when nothing is learned yet)."""
        return await self._set_frozen(domain, frozen=True)

    async def unfreeze(self, domain: str) -> None:
        await self._set_frozen(domain, frozen=False)

    async def _set_frozen(self, domain: str, *, frozen: bool) -> str | None:
        await self.flush()
        async with self.runtime.connection() as conn:
            arm = await self._store.freeze(
                conn,
                domain,
                frozen=frozen,
                settings=self.settings.bandit,
                policy_if_new=self.policy_of(domain),
            )
        self._new_domains.pop(domain, None)
        await self.refresh()
        return arm

    async def close(self) -> None:
        """Stop the background task and write what is buffered."""
        if self._background is not None:
            self._background.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._background
            self._background = None
        try:
            await self.flush()
        finally:
            await super().close()
