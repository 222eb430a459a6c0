"""Rollback on a real PostgreSQL: a new active version with the old config, in one transaction."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation as R
from contracts.enum_loop import EnumImprovementStatus
from contracts.enum_version_status import EnumVersionStatus as S
from contracts.model_improvement_lifecycle import EnumLifecycleEvent
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_improvement import ModelProposal
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_rollback import ModelRollbackInput
from tests import lifecycle
from tests.factories import proposal
from tests.lifecycle import ROLLBACK, STORE, decide, propose
from tests.lineage.dags import version


def _proposal(timeout: int) -> ModelProposal:
    return proposal("timeout", 10, timeout)


async def seed_history(conn: asyncpg.Connection, pattern: str = "p") -> list[str]:
    """1.0.0 (timeout 10) improved to 1.1.0 (timeout 20, active), with two open candidates of
    1.1.0 (1.2.0 testing, 1.3.0 validated). Returns their improvement ids as strings."""
    root = await STORE.create_version(conn, version(pattern, 0, S.ACTIVE, timeout=10))
    assert root.version_id == f"{pattern}@1.0.0"
    [first] = await propose(conn, pattern, [_proposal(20)])
    await decide(conn, pattern, first.improvement_id, EnumLifecycleEvent.APPLY, significant=True)
    opened = await propose(conn, pattern, [_proposal(30), _proposal(40)])
    await decide(
        conn,
        pattern,
        opened[1].improvement_id,
        EnumLifecycleEvent.REVIEW,
        p_value=0.01,
        confidence=0.9,
        performance_delta=0.1,
        significant=True,
    )
    return [str(i.improvement_id) for i in opened]


async def test_rollback_restores_config_as_new_active_version(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        open_ids = await seed_history(conn)
        cid = uuid.uuid4()
        restored = await lifecycle.rollback(
            conn, "p", "1.0.0", actor="alice", reason="1.1.0 broke prod", correlation_id=cid
        )
        assert isinstance(restored, ModelPatternVersion)
        assert restored.version_id == "p@1.4.0" and restored.status is S.ACTIVE
        assert restored.config == {"i": 0, "timeout": 10}
        versions = {v.version_id: v for v in await STORE.list_versions(conn, "p")}
        assert versions["p@1.1.0"].status is S.ARCHIVED
        assert versions["p@1.2.0"].status is S.REJECTED
        assert versions["p@1.3.0"].status is S.REJECTED
        assert {vid: v.traffic_weight for vid, v in versions.items() if v.traffic_weight} == {
            "p@1.4.0": 1.0
        }

        graph = await STORE.load_pattern(conn, "p")
        assert graph.relations("p@1.0.0", "p@1.4.0") == {R.ROLLED_BACK_TO: cid}
        head = graph.head("p")
        assert head is not None and head.version_id == "p@1.4.0"

        improvements = await lifecycle.improvements(conn, "p")
        retired = {
            str(i.improvement_id): i for i in improvements if str(i.improvement_id) in open_ids
        }
        assert {i.status for i in retired.values()} == {EnumImprovementStatus.REJECTED}
        assert all("superseded" in (i.decision_reason or "") for i in retired.values())

        rows = await conn.fetch(
            "SELECT actor, action, version_id, reason, details FROM audit_log "
            "WHERE correlation_id = $1 ORDER BY audit_id",
            cid,
        )
    by_action = {r["action"]: r for r in rows}
    assert [r["action"] for r in rows].count("reject") == 2
    rollback = by_action["rollback"]
    assert rollback["version_id"] == "p@1.4.0" and rollback["actor"] == "alice"
    assert rollback["reason"] == "1.1.0 broke prod"
    assert rollback["details"]["restored_from"] == "p@1.0.0"
    assert rollback["details"]["replaced"] == "p@1.1.0"
    assert sorted(rollback["details"]["retired_improvements"]) == sorted(open_ids)
    assert by_action["archive"]["version_id"] == "p@1.1.0"


async def test_rollback_reports_what_it_did(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
        done = await ROLLBACK.execute_effect(
            conn, ModelRollbackInput(pattern_id="p", to_version="1.0.0", actor="a", reason="r")
        )
    assert done.restored_from == "p@1.0.0" and done.archived == "p@1.1.0"
    assert len(done.retired_improvements) == 2 and done.version.version == "1.4.0"


@pytest.mark.parametrize(
    ("to_version", "code", "text"),
    [("9.9.9", EnumErrorCode.NOT_FOUND, "p@9.9.9")],
)
async def test_rollback_refuses_and_changes_nothing(
    pool: asyncpg.Pool, to_version: str, code: EnumErrorCode, text: str
) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
        before = await STORE.list_versions(conn, "p")
        audits = await conn.fetchval("SELECT count(*) FROM audit_log")
        with pytest.raises(ModelOnexError) as err:
            await lifecycle.rollback(conn, "p", to_version, actor="a", reason="r")
        assert err.value.code is code and text in err.value.message
        assert await STORE.list_versions(conn, "p") == before
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == audits


async def test_rollback_twice_chains_rolled_back_to_edges(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
        await lifecycle.rollback(conn, "p", "1.0.0", actor="a", reason="bad")
        again = await lifecycle.rollback(conn, "p", "1.1.0", actor="a", reason="it was fine")
        graph = await STORE.load_pattern(conn, "p")
    assert again.version_id == "p@1.5.0" and again.config["timeout"] == 20
    assert graph.version("p@1.4.0").status is S.ARCHIVED
    assert graph.get_ancestors("p@1.5.0", relation=R.ROLLED_BACK_TO) == {"p@1.1.0"}


async def test_rollback_to_the_config_already_active_is_a_no_op(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
        before = await STORE.list_versions(conn, "p")
        audits = await conn.fetchval("SELECT count(*) FROM audit_log")
        done = await ROLLBACK.execute_effect(
            conn, ModelRollbackInput(pattern_id="p", to_version="1.1.0", actor="a", reason="r")
        )
        assert not done.changed and done.version.version_id == "p@1.1.0"
        assert await STORE.list_versions(conn, "p") == before
        assert await conn.fetchval("SELECT count(*) FROM audit_log") == audits


async def test_concurrent_identical_rollbacks_make_one_version(pool: asyncpg.Pool) -> None:
    """Ten retries of one rollback at once: one new version, nine no-ops."""
    async with pool.acquire() as conn:
        await seed_history(conn)

    async def one() -> bool:
        async with pool.acquire() as conn:
            done = await ROLLBACK.execute_effect(
                conn,
                ModelRollbackInput(pattern_id="p", to_version="1.0.0", actor="a", reason="r"),
            )
            return done.changed

    changed = await asyncio.gather(*(one() for _ in range(10)))
    assert sorted(changed) == [False] * 9 + [True]
    async with pool.acquire() as conn:
        versions = await STORE.list_versions(conn, "p")
    assert [v.version for v in versions][-2:] == ["1.3.0", "1.4.0"]  # one new version
