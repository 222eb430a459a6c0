"""The lineage store on a real PostgreSQL: writes, invariants, concurrency, SQL traversals."""

from __future__ import annotations

import asyncio
import itertools

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation as R
from contracts.enum_version_status import EnumVersionStatus as S
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_version import ModelPatternVersion
from lineage import ModelLineageGraph
from nodes.effect.lineage_transaction import lineage_transaction
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.locks import (
    lock_pattern_for_session,
    lock_pattern_for_transaction,
    unlock_pattern_for_session,
)
from tests.lineage.dags import random_dag, version
from tests.polling import blocked_on_a_lock, until

STORE = NodeLineageStoreEffect()
_prefixes = itertools.count()


async def _counts(conn: asyncpg.Connection) -> tuple[int, int]:
    row = await conn.fetchrow(
        "SELECT (SELECT count(*) FROM pattern_versions) AS v, "
        "(SELECT count(*) FROM lineage_edges) AS e"
    )
    return row["v"], row["e"]


def _snapshot(
    graph: ModelLineageGraph,
) -> tuple[dict[str, dict[str, object]], set[tuple[object, ...]]]:
    return {v: dict(a) for v, a in graph.graph.nodes(data=True)}, set(graph.edges())


async def _seed(conn: asyncpg.Connection, pattern: str = "p") -> ModelPatternVersion:
    return await STORE.create_version(conn, version(pattern, 0, S.ACTIVE, timeout=10))


async def test_create_load_and_next_version(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        root = await _seed(conn)
        assert root.created_at is not None
        child = ModelPatternVersion(
            pattern_id="p",
            version=await STORE.next_version(conn, "p"),
            status=S.TESTING,
            config={"timeout": 20},
        )
        assert child.version == "1.1.0"
        await STORE.create_version(conn, child, parents=[(root.version_id, R.DERIVED_FROM)])
        graph = await STORE.load_pattern(conn, "p")
        assert set(graph.graph) == {"p@1.0.0", "p@1.1.0"}
        assert graph.relations("p@1.0.0", "p@1.1.0").keys() == {R.DERIVED_FROM}
        head = graph.head("p")
        assert head is not None and head.config == {"i": 0, "timeout": 10}
        assert [v.version for v in await STORE.list_versions(conn, "p")] == ["1.0.0", "1.1.0"]
        assert await STORE.list_patterns(conn) == ["p"]


async def test_two_writers_add_children_to_one_version_at_once(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        root = await _seed(conn)

    async def add_child(k: int) -> str:
        async with pool.acquire() as conn, conn.transaction():
            await lock_pattern_for_transaction(conn, "p")
            child = ModelPatternVersion(
                pattern_id="p",
                version=await STORE.next_version(conn, "p"),
                status=S.TESTING,
                config={"writer": k},
            )
            await STORE.create_version(conn, child, parents=[(root.version_id, R.DERIVED_FROM)])
            return child.version_id

    created = await asyncio.gather(*(add_child(k) for k in range(8)))
    assert len(set(created)) == 8
    async with pool.acquire() as conn:
        graph = await STORE.load_pattern(conn, "p")
    assert graph.get_descendants(root.version_id) == set(created)
    assert sorted(graph.graph.nodes[v]["config"]["writer"] for v in created) == list(range(8))


async def test_cycle_attempt_is_rejected_and_nothing_stored(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        for i in (1, 2):
            await STORE.create_version(
                conn, version("p", i, S.TESTING), parents=[(f"p@1.{i - 1}.0", R.DERIVED_FROM)]
            )
        before = await _counts(conn)
        with pytest.raises(ModelOnexError) as exc:
            await STORE.add_edge(conn, "p@1.2.0", "p@1.0.0", R.ROLLED_BACK_TO)
        assert exc.value.code is EnumErrorCode.LINEAGE_INVARIANT
        assert "would close a cycle" in str(exc.value)
        with pytest.raises(ModelOnexError, match="own parent"):
            await STORE.add_edge(conn, "p@1.1.0", "p@1.1.0", R.DERIVED_FROM)
        with pytest.raises(ModelOnexError, match=r"no version p@3\.0\.0"):
            await STORE.add_edge(conn, "p@1.1.0", "p@3.0.0", R.DERIVED_FROM)
        with pytest.raises(ModelOnexError, match="does not exist"):
            await STORE.create_version(
                conn, version("p", 3, S.TESTING), parents=[("p@9.0.0", R.DERIVED_FROM)]
            )
        assert await _counts(conn) == before

        graph = await STORE.load_pattern(conn, "p")
        expected = _snapshot(graph)
        with pytest.raises(ModelOnexError, match="cycle"):
            async with lineage_transaction(conn, graph) as tx:
                await tx.add_version(
                    version("p", 3, S.TESTING), parents=[("p@1.2.0", R.DERIVED_FROM)]
                )
                await tx.add_edge("p@1.3.0", "p@1.1.0", R.ROLLED_BACK_TO)
        assert _snapshot(graph) == expected
        assert await _counts(conn) == before


async def test_failed_transaction_leaves_graph_and_database_as_they_were(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        await STORE.create_version(conn, version("p", 1, S.TESTING), parents=[])
        graph = await STORE.load_pattern(conn, "p")
        before, expected = await _counts(conn), _snapshot(graph)
        with pytest.raises(RuntimeError, match="changed its mind"):
            async with lineage_transaction(conn, graph) as tx:
                await tx.set_status("p@1.0.0", S.ARCHIVED)
                await tx.add_version(
                    version("p", 2, S.ACTIVE), parents=[("p@1.0.0", R.IMPROVED_VERSION)]
                )
                await tx.add_edge("p@1.0.0", "p@1.1.0", R.DERIVED_FROM)
                await tx.set_status("p@1.1.0", S.REJECTED)
                raise RuntimeError("the caller changed its mind")
        assert _snapshot(graph) == expected
        head = graph.head("p")
        assert head is not None and head.version_id == "p@1.0.0"
        assert await _counts(conn) == before
        assert (await STORE.require_version(conn, "p@1.0.0")).status is S.ACTIVE

        async with lineage_transaction(conn, graph) as tx:
            await tx.set_status("p@1.0.0", S.ARCHIVED)
            await tx.add_version(
                version("p", 2, S.ACTIVE), parents=[("p@1.0.0", R.IMPROVED_VERSION)]
            )
        assert _snapshot(graph) == _snapshot(await STORE.load_pattern(conn, "p"))


async def test_failed_transaction_reloads_a_stale_graph_from_the_database(
    pool: asyncpg.Pool,
) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        await _seed(conn, "q")
        graph = await STORE.load_all(conn)
        # Other writers stored p@1.1.0 and q@1.1.0 meanwhile: the in-memory graph knows neither.
        await STORE.create_version(conn, version("p", 1, S.TESTING), parents=[])
        await STORE.create_version(conn, version("q", 1, S.TESTING), parents=[])
        before, stale_q = await _counts(conn), _snapshot(graph.component("q"))
        with pytest.raises(ModelOnexError, match="already exists"):
            async with lineage_transaction(conn, graph) as tx:
                await tx.set_status("p@1.0.0", S.ARCHIVED)
                await tx.add_version(
                    version("p", 1, S.ACTIVE), parents=[("p@1.0.0", R.IMPROVED_VERSION)]
                )
        assert await _counts(conn) == before
        # p, which the transaction touched, is now the database's copy (with p@1.1.0) ...
        stored = await STORE.load_pattern(conn, "p")
        assert _snapshot(graph.component("p")) == _snapshot(stored)
        assert graph.graph.nodes["p@1.1.0"]["status"] == S.TESTING.value
        head = graph.head("p")
        assert head is not None and head.version_id == "p@1.0.0"
        # ... and q, which it did not touch, is left alone.
        assert _snapshot(graph.component("q")) == stale_q and "q@1.1.0" not in graph

        async with lineage_transaction(conn, graph) as tx:
            await tx.set_status("p@1.0.0", S.ARCHIVED)
            await tx.add_version(
                version("p", 2, S.ACTIVE), parents=[("p@1.0.0", R.IMPROVED_VERSION)]
            )
        assert _snapshot(graph.component("p")) == _snapshot(await STORE.load_pattern(conn, "p"))


async def test_failed_commit_reloads_the_graph(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        graph = await STORE.load_pattern(conn, "p")
        before, expected = await _counts(conn), _snapshot(graph)
        # A deferred constraint: the block succeeds, the COMMIT fails.
        await conn.execute(
            "CREATE TEMP TABLE commit_gate (k int UNIQUE DEFERRABLE INITIALLY DEFERRED)"
        )
        with pytest.raises(asyncpg.UniqueViolationError):
            async with lineage_transaction(conn, graph) as tx:
                await tx.set_status("p@1.0.0", S.ARCHIVED)
                await tx.add_version(
                    version("p", 1, S.ACTIVE), parents=[("p@1.0.0", R.IMPROVED_VERSION)]
                )
                await conn.execute("INSERT INTO commit_gate VALUES (1), (1)")
                assert "p@1.1.0" in graph  # applied to the graph, not yet committed
        assert _snapshot(graph) == expected
        assert await _counts(conn) == before


async def test_database_refuses_a_second_active_version(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        await STORE.create_version(conn, version("p", 1, S.TESTING))
        with pytest.raises(ModelOnexError, match="already has an active version"):
            await STORE.set_status(conn, "p@1.1.0", S.ACTIVE)
        with pytest.raises(ModelOnexError, match="already has an active version"):
            await STORE.create_version(conn, version("p", 2, S.ACTIVE))


async def test_save_load_round_trip_of_a_random_10000_node_dag(pool: asyncpg.Pool) -> None:
    graph = random_dag(seed=11, n_versions=10_000, n_patterns=25)
    async with pool.acquire() as conn:
        await STORE.save_graph(conn, graph)
        loaded = await STORE.load_all(conn)
    assert set(loaded.edges()) == set(graph.edges())
    assert {v: dict(a) for v, a in loaded.graph.nodes(data=True)} == {
        v: dict(a) for v, a in graph.graph.nodes(data=True)
    }
    for pid in graph.pattern_ids():
        assert loaded.head(pid) == graph.head(pid)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 10**6),
    size=st.integers(2, 120),
    relation=st.one_of(st.none(), st.sampled_from(list(R))),
    depth=st.one_of(st.none(), st.integers(0, 6)),
)
async def test_sql_traversals_equal_in_memory_ones(
    pool: asyncpg.Pool, seed: int, size: int, relation: R | None, depth: int | None
) -> None:
    graph = random_dag(seed, size, n_patterns=2, extra_parent_p=0.4, prefix=f"h{next(_prefixes)}_")
    async with pool.acquire() as conn:
        await STORE.save_graph(conn, graph)
        for vid in list(graph.graph)[:: max(1, size // 10)]:
            kw = {"relation": relation, "max_depth": depth}
            assert await STORE.ancestors(conn, vid, **kw) == graph.get_ancestors(vid, **kw)
            assert await STORE.descendants(conn, vid, **kw) == graph.get_descendants(vid, **kw)


async def test_lineage_transaction_refuses_to_nest(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await _seed(conn)
        graph = await STORE.load_pattern(conn, "p")
        before = _snapshot(graph)
        with pytest.raises(ValueError, match="must own the transaction"):
            async with conn.transaction(), lineage_transaction(conn, graph) as tx:
                await tx.set_status("p@1.0.0", S.ARCHIVED)
        assert _snapshot(graph) == before
        assert (await STORE.require_version(conn, "p@1.0.0")).status is S.ACTIVE


async def test_a_lineage_transaction_waits_for_a_run_holding_the_pattern(
    pool: asyncpg.Pool,
) -> None:
    """A loop run holds its pattern's session lock and trusts the versions it read: a graph
    change through lineage_transaction must wait for it, not slip in underneath."""
    async with pool.acquire() as run, pool.acquire() as conn:
        await _seed(conn)
        graph = await STORE.load_pattern(conn, "p")
        assert await lock_pattern_for_session(run, "p", timeout_ms=1000)

        async def change() -> None:
            async with lineage_transaction(conn, graph) as tx:
                await tx.set_status("p@1.0.0", S.ARCHIVED)

        task = asyncio.create_task(change())
        await until(blocked_on_a_lock(conn.get_server_pid(), pool.fetchval))
        assert (await STORE.require_version(run, "p@1.0.0")).status is S.ACTIVE
        await unlock_pattern_for_session(run, "p")
        await task
        assert (await STORE.require_version(run, "p@1.0.0")).status is S.ARCHIVED
