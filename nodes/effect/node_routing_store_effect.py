"""The routing store: a LearningEngine's batches in, domains' shared state out.

``flush`` writes one batch in one transaction: its (writer, seq) key, the arm deltas appended
by COPY and the decision log by COPY. ``fold`` later adds the appended deltas to the arms' rows
(``pulls = pulls + delta``, so concurrent writers add up exactly); readers add the ones not yet
folded. A batch whose key is already stored committed earlier, when a COMMIT's outcome was lost
with the connection: it is acknowledged and not applied twice. Deltas
learned under an epoch that a reset has since ended are dropped (the domain row is
share-locked while they are added, so a reset is either before the batch or after it).
"""

from __future__ import annotations

from collections import defaultdict

import asyncpg
import numpy as np

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_routing import EnumRoutingPolicy
from contracts.model_onex_error import ModelOnexError
from contracts.model_routing import (
    ModelArmState,
    ModelBanditSettings,
    ModelRoutingDomainState,
    ModelRoutingFlush,
    ModelRoutingFlushed,
    ModelRoutingStats,
    ModelVariantStats,
    decision_id,
)
from nodes.compute.node_bandit_compute import posterior_means
from nodes.storage import sql_routing


class NodeRoutingStoreEffect:
    async def flush(
        self, conn: asyncpg.Connection, request: ModelRoutingFlush
    ) -> ModelRoutingFlushed:
        deltas, log = request.deltas, request.decisions
        async with conn.transaction():
            if request.domains:
                await sql_routing.ensure_domains(
                    conn, list(request.domains), [p.value for p in request.domains.values()]
                )
            epochs = await sql_routing.claim_batch(
                conn, request.writer_id, request.seq, sorted(set(deltas.domains))
            )
            if epochs is None:
                return ModelRoutingFlushed(
                    seq=request.seq, committed=False, deltas=0, stale=0, decisions=0
                )
            current = [
                epochs.get(d) == e for d, e in zip(deltas.domains, deltas.epochs, strict=True)
            ]
            rows = zip(
                deltas.domains,
                deltas.policies,
                deltas.arms,
                deltas.pulls,
                deltas.reward_sums,
                deltas.regret_sums,
                strict=True,
            )
            fresh = [row for row, ok in zip(rows, current, strict=True) if ok]
            if fresh:
                await sql_routing.copy_arm_deltas(conn, fresh)
            features = [
                ((deltas.domains[i], deltas.policies[i], deltas.arms[i], f), a, b)
                for i, (a_sums, b_sums) in deltas.lints.items()
                if current[i]
                for f, (a, b) in enumerate(zip(a_sums, b_sums, strict=True))
            ]
            if features:
                keys, a_sums, b_sums = (list(c) for c in zip(*features, strict=True))
                await sql_routing.add_lints_deltas(conn, keys, a_sums, b_sums)
            if log.numbers:
                ids = [decision_id(request.writer_id, n) for n in log.numbers]
                await sql_routing.copy_decisions(
                    conn,
                    list(
                        zip(
                            ids,
                            log.domains,
                            log.policies,
                            log.arms,
                            log.propensities,
                            log.policy_shares,
                            log.contexts,
                            log.decided_at,
                            strict=True,
                        )
                    ),
                )
        return ModelRoutingFlushed(
            seq=request.seq,
            committed=True,
            deltas=len(fresh),
            stale=len(deltas.domains) - len(fresh),
            decisions=len(log.numbers),
        )

    async def fold(self, conn: asyncpg.Connection) -> int | None:
        """Add every appended delta to its arm's row; None when another process is folding."""
        return await sql_routing.fold_arm_deltas(conn)

    async def load(
        self, conn: asyncpg.Connection, domains: list[str]
    ) -> dict[str, ModelRoutingDomainState]:
        """The stored state of these domains (unknown ones are absent)."""
        variants: dict[str, dict[str, list[ModelArmState]]] = defaultdict(lambda: defaultdict(list))
        for r in await sql_routing.arms(conn, domains):
            variants[r["domain"]][r["policy"]].append(
                ModelArmState(
                    arm=r["arm"],
                    pulls=float(r["pulls"]),
                    reward_sum=r["reward_sum"],
                    lints_a=tuple(r["a_sums"]),
                    lints_b=tuple(r["b_sums"]),
                )
            )
        return {
            r["domain"]: ModelRoutingDomainState(
                domain=r["domain"],
                policy=EnumRoutingPolicy(r["policy"]),
                frozen=r["frozen"],
                frozen_arm=r["frozen_arm"],
                epoch=r["epoch"],
                variants={p: list(s) for p, s in variants[r["domain"]].items()},
            )
            for r in await sql_routing.domains(conn, domains)
        }

    async def stats(self, conn: asyncpg.Connection, domain: str) -> ModelRoutingStats:
        rows = await sql_routing.domains(conn, [domain])
        if not rows:
            raise _unknown(domain)
        row = rows[0]
        return ModelRoutingStats(
            domain=domain,
            policy=EnumRoutingPolicy(row["policy"]),
            frozen=row["frozen"],
            frozen_arm=row["frozen_arm"],
            epoch=row["epoch"],
            decisions=await sql_routing.decision_count(conn, domain),
            variants=[
                ModelVariantStats(
                    policy=r["policy"],
                    arm=r["arm"],
                    pulls=r["pulls"],
                    reward_sum=r["reward_sum"],
                    mean_reward=r["reward_sum"] / r["pulls"] if r["pulls"] else None,
                    regret_sum=r["regret_sum"],
                    updated_at=r["updated_at"],
                )
                for r in await sql_routing.arms(conn, [domain])
            ],
        )

    async def reset(self, conn: asyncpg.Connection, domain: str) -> None:
        if await sql_routing.reset(conn, domain) is None:
            raise _unknown(domain)

    async def freeze(
        self,
        conn: asyncpg.Connection,
        domain: str,
        *,
        frozen: bool,
        settings: ModelBanditSettings,
        policy_if_new: EnumRoutingPolicy | None = None,
    ) -> str | None:
        """Freeze on the arm with the best posterior mean of the domain's own policy (None
        when nothing is learned yet), or unfreeze. Returns the frozen arm."""
        async with conn.transaction():
            if policy_if_new is not None:
                await sql_routing.ensure_domains(conn, [domain], [policy_if_new.value])
            state = (await self.load(conn, [domain])).get(domain)
            if state is None:
                raise _unknown(domain)
            arm = _best_arm(state, settings) if frozen else None
            await sql_routing.set_frozen(conn, domain, frozen, arm)
        return arm


def _best_arm(state: ModelRoutingDomainState, settings: ModelBanditSettings) -> str | None:
    arms = state.variants.get(state.policy.value, [])
    if not arms or not any(a.pulls for a in arms):
        return None
    pulls = np.array([[a.pulls for a in arms]])
    sums = np.array([[a.reward_sum for a in arms]])
    means = posterior_means(state.policy, pulls, sums, settings)[0]
    return arms[int(np.nanargmax(means))].arm


def _unknown(domain: str) -> ModelOnexError:
    return ModelOnexError(
        EnumErrorCode.NOT_FOUND,
        f"routing domain {domain!r} is unknown (it is created by its first decision)",
    )
