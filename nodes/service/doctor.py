"""``feedback-loop db doctor``: what crashes and hand edits leave behind, found, and fixed where
a fix is safe.

- A stale embedded server: a postmaster still runs on the embedded data dir, but every process
  that registered as using it has died (SIGKILL, OOM), so nobody will stop it. Fixed by a fast
  shutdown.
- Abandoned runs: ``loop_runs`` rows left ``running`` by a dead session, found (and marked
  ``abandoned``) by the run ledger's own rule, under the pattern's lock.
- Schema drift: a migration edited after it was applied is reported, never "fixed" (only a
  new migration can change a schema that exists); pending migrations are applied.
- Stale bucket rewards: a pattern whose execution buckets sum another reward than its
  objective's (a database upgraded from before buckets, or a reward edited by hand). Looks
  then read raw rows, correct but slower. Fixed by storing the objective's reward and
  rebuilding the sums, under the pattern's lock.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum

from contracts.model_onex_error import ModelOnexError
from nodes.effect.node_objective_store_effect import NodeObjectiveStoreEffect
from nodes.runtime.runtime import Connection, FeedbackLoopRuntime, Pool
from nodes.storage import sql_buckets, sql_lineage, sql_loop_runs
from nodes.storage.embedded import embedded_server_status, stop_embedded_server
from nodes.storage.locks import (
    lock_pattern_for_session,
    lock_pattern_for_transaction,
    unlock_pattern_for_session,
)
from nodes.storage.migrate import status as migration_status
from nodes.storage.migrate import upgrade

# A pattern's lock is tried, not waited for: a live run holds it for minutes.
_TRY_LOCK_MS = 1


class EnumFindingKind(StrEnum):
    STALE_SERVER = "stale server"
    STALE_BUCKETS = "stale bucket rewards"
    ABANDONED_RUN = "abandoned run"
    CHANGED_MIGRATION = "changed migration"
    PENDING_MIGRATION = "pending migration"


@dataclass(frozen=True)
class DoctorFinding:
    """One problem: what was found, and what ``--fix`` did about it (or would do)."""

    kind: EnumFindingKind
    problem: str
    outcome: str
    fixed: bool

    def line(self) -> str:
        return f"{self.kind.value}: {self.problem}: {self.outcome}"


@dataclass(frozen=True)
class DoctorReport:
    findings: tuple[DoctorFinding, ...]

    @property
    def healthy(self) -> bool:
        """Nothing found, or everything found was fixed."""
        return all(finding.fixed for finding in self.findings)

    def summary(self) -> str:
        if not self.findings:
            return (
                "healthy: no stale server, no abandoned runs, schema up to date, buckets sum "
                "each objective's reward"
            )
        fixed = sum(finding.fixed for finding in self.findings)
        return f"{len(self.findings)} problem(s): {fixed} fixed, {len(self.findings) - fixed} left"


async def diagnose(runtime: FeedbackLoopRuntime, *, fix: bool) -> DoctorReport:
    """Every check, in the order fixes depend on: the embedded server before this process
    connects (attaching to it would register a live handle), migrations before runs (rows can
    only be marked abandoned on the current schema)."""
    findings = [*await _stale_server(fix=fix)]
    pool = await runtime.raw_pool()
    schema = await _schema(pool, fix=fix, automatic=runtime.embedded)
    findings += schema
    if not any(f.kind is EnumFindingKind.PENDING_MIGRATION and not f.fixed for f in schema):
        async with pool.acquire() as conn:
            findings += await _abandoned_runs(conn, fix=fix)
            findings += await _bucket_rewards(conn, runtime.objectives, fix=fix)
    return DoctorReport(tuple(findings))


# ----------------------------------------------------------------- embedded server
async def _stale_server(*, fix: bool) -> list[DoctorFinding]:
    """The default data dir's server (FEEDBACK_LOOP_DATA_DIR): the one the CLI would use. The
    embedded module only counts a pid as the server once it is a postgres of that data dir,
    so a leftover ``postmaster.pid`` naming another process is never signalled."""
    status = embedded_server_status()
    if status.postmaster_pid is None or not status.stale:
        return []
    problem = (
        f"postmaster {status.postmaster_pid} serves {status.data_dir}, "
        "and no process using it is alive"
    )
    if not fix:
        outcome = "--fix stops it (else the next command using it stops it when done)"
        return [DoctorFinding(EnumFindingKind.STALE_SERVER, problem, outcome, fixed=False)]
    try:
        stopped = await asyncio.to_thread(stop_embedded_server, status.data_dir)
    except ModelOnexError as exc:
        outcome = f"not stopped: {exc.message}"
        return [DoctorFinding(EnumFindingKind.STALE_SERVER, problem, outcome, fixed=False)]
    outcome = "stopped" if stopped else "gone meanwhile"
    return [DoctorFinding(EnumFindingKind.STALE_SERVER, problem, outcome, fixed=True)]


# -------------------------------------------------------------------------- schema
async def _schema(pool: Pool, *, fix: bool, automatic: bool) -> list[DoctorFinding]:
    """``automatic``: the embedded database, which every command migrates on first use (the
    runtime's policy), so its pending migrations are applied here too and are no finding."""
    states = await migration_status(pool)
    changed = [
        DoctorFinding(
            EnumFindingKind.CHANGED_MIGRATION,
            f"{s.version:04d}_{s.name} was edited after it was applied (checksum differs)",
            "never fixed automatically: restore the shipped file, or write a new migration",
            fixed=False,
        )
        for s in states
        if s.changed
    ]
    pending = [s for s in states if not s.applied]
    if automatic and pending and not changed:
        await upgrade(pool)
        return []
    if fix and pending and not changed:
        await upgrade(pool)
        outcome, fixed = "applied", True
    elif fix and pending:
        outcome, fixed = "not applied: a changed migration blocks every upgrade", False
    else:
        outcome, fixed = "--fix applies it (feedback-loop db upgrade)", False
    return changed + [
        DoctorFinding(
            EnumFindingKind.PENDING_MIGRATION, f"{s.version:04d}_{s.name}", outcome, fixed
        )
        for s in pending
    ]


# ---------------------------------------------------------------------------- runs
async def _abandoned_runs(conn: Connection, *, fix: bool) -> list[DoctorFinding]:
    """Per pattern with ``running`` rows: if its lock is free, no live run holds it, so the
    rows are a dead session's (the run ledger's rule); a held lock means a run is live."""
    findings: list[DoctorFinding] = []
    for pattern_id in await sql_loop_runs.patterns_with_running_attempts(conn):
        if not await lock_pattern_for_session(conn, pattern_id, timeout_ms=_TRY_LOCK_MS):
            continue
        try:
            if fix:
                rows = await sql_loop_runs.abandon_running(conn, pattern_id)
            else:
                rows = await sql_loop_runs.running_attempts(conn, pattern_id)
        finally:
            await unlock_pattern_for_session(conn, pattern_id)
        outcome = "marked abandoned" if fix else "--fix marks it abandoned"
        findings += [
            DoctorFinding(
                EnumFindingKind.ABANDONED_RUN,
                f"{pattern_id} run {row['correlation_id']} attempt {row['attempt']}, started "
                f"{row['started_at']:%Y-%m-%d %H:%M:%S %Z}, left running by a dead session",
                outcome,
                fixed=fix,
            )
            for row in rows
        ]
    return findings


async def _bucket_rewards(
    conn: Connection, objectives: NodeObjectiveStoreEffect, *, fix: bool
) -> list[DoctorFinding]:
    findings: list[DoctorFinding] = []
    stored = await sql_buckets.stored_reward_params(conn)
    for pattern_id in await sql_lineage.pattern_ids(conn):
        reward = (await objectives.get(conn, pattern_id)).reward
        if sql_buckets.reward_params_match(stored.get(pattern_id), reward):
            continue
        if fix:
            async with conn.transaction():
                await lock_pattern_for_transaction(conn, pattern_id)
                await sql_buckets.set_reward_params(conn, pattern_id, reward)
        findings.append(
            DoctorFinding(
                EnumFindingKind.STALE_BUCKETS,
                f"{pattern_id}: its execution buckets do not sum its objective's reward "
                "(looks read raw rows instead)",
                "reward stored and sums rebuilt" if fix else "--fix rebuilds the sums",
                fixed=fix,
            )
        )
    return findings
