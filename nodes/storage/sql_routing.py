"""All SQL of learned routing: domains, per-variant arm statistics (added as deltas), LinTS
sums, the decision log (COPY), flushed-batch keys and the Q-learning table."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

import asyncpg

from nodes.storage.locks import ROUTING_FOLD_LOCK_KEY

_DOMAIN_COLUMNS = "domain, policy, frozen, frozen_arm, epoch, updated_at"
_DECISION_COLUMNS = (
    "decision_id",
    "domain",
    "policy",
    "arm",
    "propensity",
    "policy_share",
    "context",
    "decided_at",
)
_BATCH_RETENTION = "1 day"

_DELTA_COLUMNS = ("domain", "policy", "arm", "pulls", "reward_sum", "regret_sum")

ArmDeltaRow = tuple[str, str, str, int, float, float]
DecisionRow = tuple[str, str, str, str, float, float, list[float] | None, datetime]


async def claim_batch(
    conn: asyncpg.Connection, writer_id: UUID, seq: int, domains: list[str]
) -> dict[str, int] | None:
    """Record (writer, seq) in the caller's transaction and share-lock the batch's domains
    until it ends, in one round trip. Returns the domains' epochs, or None when the key is
    already there, i.e. that batch committed before (a retry after an unknown outcome).

    The lock keeps a reset (which updates the domain row) from slipping between reading an
    epoch and adding the deltas learned under it. The same statement prunes the writer's
    earlier keys (it never retries them) and anybody's older than a day."""
    row = await conn.fetchrow(
        f"""
        WITH pruned AS (
            DELETE FROM routing_flushes WHERE (writer_id = $1 AND seq < $2)
                OR flushed_at < now() - interval '{_BATCH_RETENTION}'
        ), claimed AS (
            INSERT INTO routing_flushes (writer_id, seq) VALUES ($1, $2)
            ON CONFLICT DO NOTHING RETURNING true
        ), locked AS (
            SELECT domain, epoch FROM routing_domains WHERE domain = ANY($3::text[])
            ORDER BY domain FOR SHARE
        )
        SELECT EXISTS (SELECT FROM claimed) AS claimed,
               (SELECT jsonb_object_agg(domain, epoch) FROM locked) AS epochs
        """,
        writer_id,
        seq,
        domains,
    )
    if not row["claimed"]:
        return None
    epochs: dict[str, int] = row["epochs"] or {}
    return epochs


async def ensure_domains(conn: asyncpg.Connection, domains: list[str], policies: list[str]) -> None:
    await conn.execute(
        "INSERT INTO routing_domains (domain, policy) "
        "SELECT * FROM unnest($1::text[], $2::text[]) ON CONFLICT DO NOTHING",
        domains,
        policies,
    )


async def copy_arm_deltas(conn: asyncpg.Connection, rows: Sequence[ArmDeltaRow]) -> None:
    """Append arms' deltas (added to their rows by the next fold; readers add them already)."""
    await conn.copy_records_to_table("routing_arm_deltas", records=rows, columns=_DELTA_COLUMNS)


async def fold_arm_deltas(conn: asyncpg.Connection) -> int | None:
    """Move every appended delta into its arm's row, in one statement; the number of deltas
    folded, or None when another fold or a reset holds the lock (skip, nothing is lost).

    Deltas committed after the statement's snapshot are neither deleted nor added: they wait
    for the next fold. The lock makes a reset wait for a running fold (and the reverse), so a
    reset never misses a row a fold inserted."""
    async with conn.transaction():
        if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", ROUTING_FOLD_LOCK_KEY):
            return None
        folded: int = await conn.fetchval(
            """
            WITH moved AS (
                DELETE FROM routing_arm_deltas
                RETURNING domain, policy, arm, pulls, reward_sum, regret_sum
            ), sums AS (
                SELECT domain, policy, arm, sum(pulls) AS pulls, sum(reward_sum) AS reward_sum,
                       sum(regret_sum) AS regret_sum, count(*) AS deltas
                FROM moved GROUP BY domain, policy, arm
            ), upserted AS (
                INSERT INTO routing_arms AS a (domain, policy, arm, pulls, reward_sum, regret_sum)
                SELECT domain, policy, arm, pulls, reward_sum, regret_sum FROM sums
                ON CONFLICT (domain, policy, arm) DO UPDATE SET
                    pulls = a.pulls + EXCLUDED.pulls,
                    reward_sum = a.reward_sum + EXCLUDED.reward_sum,
                    regret_sum = a.regret_sum + EXCLUDED.regret_sum,
                    updated_at = now()
            )
            SELECT coalesce(sum(deltas), 0)::bigint FROM sums
            """
        )
    return folded


async def add_lints_deltas(
    conn: asyncpg.Connection,
    keys: list[tuple[str, str, str, int]],
    a_sums: list[float],
    b_sums: list[float],
) -> None:
    """Add per-feature LinTS sums (one row per arm and feature)."""
    domains, policies, arms, features = (list(c) for c in zip(*keys, strict=True))
    await conn.execute(
        """
        INSERT INTO routing_lints AS l (domain, policy, arm, feature, a_sum, b_sum)
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[],
                             $5::float8[], $6::float8[])
        ON CONFLICT (domain, policy, arm, feature) DO UPDATE SET
            a_sum = l.a_sum + EXCLUDED.a_sum, b_sum = l.b_sum + EXCLUDED.b_sum
        """,
        domains,
        policies,
        arms,
        features,
        a_sums,
        b_sums,
    )


async def copy_decisions(conn: asyncpg.Connection, rows: Sequence[DecisionRow]) -> None:
    await conn.copy_records_to_table("routing_decisions", records=rows, columns=_DECISION_COLUMNS)


async def domains(conn: asyncpg.Connection, names: list[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        f"SELECT {_DOMAIN_COLUMNS} FROM routing_domains WHERE domain = ANY($1::text[])", names
    )
    return rows


async def arms(conn: asyncpg.Connection, names: list[str]) -> list[asyncpg.Record]:
    """Every variant's arms of these domains, with their LinTS sums in feature order."""
    rows: list[asyncpg.Record] = await conn.fetch(
        """
        SELECT a.domain, a.policy, a.arm, a.pulls, a.reward_sum, a.regret_sum, a.updated_at,
               coalesce(l.a_sums, '{}') AS a_sums, coalesce(l.b_sums, '{}') AS b_sums
        FROM routing_arm_totals a
        LEFT JOIN LATERAL (
            SELECT array_agg(a_sum ORDER BY feature) AS a_sums,
                   array_agg(b_sum ORDER BY feature) AS b_sums
            FROM routing_lints l
            WHERE l.domain = a.domain AND l.policy = a.policy AND l.arm = a.arm
        ) l ON true
        WHERE a.domain = ANY($1::text[])
        ORDER BY a.domain, a.policy, a.arm
        """,
        names,
    )
    return rows


async def decision_count(conn: asyncpg.Connection, domain: str) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM routing_decisions WHERE domain = $1", domain
    )
    return count


async def reset(conn: asyncpg.Connection, domain: str) -> asyncpg.Record | None:
    """Forget the domain's statistics and start a new epoch (one transaction); the decision
    log and the freeze stay. None for an unknown domain. Waits for a running fold (its lock),
    so the rows a fold inserts are seen and deleted."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ROUTING_FOLD_LOCK_KEY)
        row: asyncpg.Record | None = await conn.fetchrow(
            "UPDATE routing_domains SET epoch = epoch + 1, updated_at = now() "
            f"WHERE domain = $1 RETURNING {_DOMAIN_COLUMNS}",
            domain,
        )
        if row is not None:
            for table in ("routing_arms", "routing_arm_deltas", "routing_lints"):
                await conn.execute(f"DELETE FROM {table} WHERE domain = $1", domain)
    return row


async def set_frozen(
    conn: asyncpg.Connection, domain: str, frozen: bool, arm: str | None
) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow(
        "UPDATE routing_domains SET frozen = $2, frozen_arm = $3, updated_at = now() "
        f"WHERE domain = $1 RETURNING {_DOMAIN_COLUMNS}",
        domain,
        frozen,
        arm,
    )
    return row


async def upsert_q_values(
    conn: asyncpg.Connection,
    router: str,
    states: list[str],
    actions: list[str],
    q_values: list[float],
    update_counts: list[int],
) -> None:
    """Store Q-values (the newest write wins) and add the update counts."""
    await conn.execute(
        """
        INSERT INTO routing_q_table AS q (router, state, action, q_value, update_count)
        SELECT $1, * FROM unnest($2::text[], $3::text[], $4::float8[], $5::bigint[])
        ON CONFLICT (router, state, action) DO UPDATE SET
            q_value = EXCLUDED.q_value,
            update_count = q.update_count + EXCLUDED.update_count,
            last_updated = now()
        """,
        router,
        states,
        actions,
        q_values,
        update_counts,
    )


async def q_table(conn: asyncpg.Connection, router: str) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT state, action, q_value, update_count, last_updated FROM routing_q_table "
        "WHERE router = $1 ORDER BY state, action",
        router,
    )
    return rows


async def delete_q_table(conn: asyncpg.Connection, router: str) -> None:
    await conn.execute("DELETE FROM routing_q_table WHERE router = $1", router)
