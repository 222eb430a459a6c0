"""Lineage at scale: 1,000,000 versions in Postgres; traversals in memory and in SQL; loading.

Builds many patterns (chains with branches and a few ``rolled_back_to`` shortcuts) plus one
deep pattern whose chain puts a node at depth 1,000, loads them by COPY in chunks (memory
stays flat), then prints one line per figure. Targets: in-memory
ancestors/descendants of the deep node <= 1 ms, SQL <= 20 ms.
Run: python bench/lineage.py [--versions N]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg

from bench._db import bench_pool
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_version_status import EnumVersionStatus
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from nodes.storage.sql_lineage import EDGE_COLUMNS, VERSION_COLUMNS

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEEP_PATTERN = "deep"
DEEP_CHAIN = 2_000  # the chain goes on past the deep node, so it has descendants too
DEEP_INDEX = 1_000  # depth of the measured node
CHUNK_VERSIONS = 50_000
IMPROVED = EnumLineageRelation.IMPROVED_VERSION.value
DERIVED = EnumLineageRelation.DERIVED_FROM.value
ROLLED = EnumLineageRelation.ROLLED_BACK_TO.value
ACTIVE = EnumVersionStatus.ACTIVE.value
ARCHIVED = EnumVersionStatus.ARCHIVED.value
REJECTED = EnumVersionStatus.REJECTED.value

Version = tuple[Any, ...]
Edge = tuple[str, str, str, None]


class PatternBuilder:
    """Rows of one pattern: versions ``1.j.0`` created one second apart, edges old -> new."""

    def __init__(self, pattern_id: str) -> None:
        self.pattern_id = pattern_id
        self.versions: list[list[Any]] = []
        self.edges: list[Edge] = []

    def add(self, status: str, parents: list[tuple[str, str]]) -> str:
        j = len(self.versions)
        vid = f"{self.pattern_id}@1.{j}.0"
        config = {"timeout_ms": 1_000 + 10 * j, "retries": j % 4, "model": f"m{j % 3}"}
        created = T0 + timedelta(seconds=j)
        self.versions.append(
            [vid, self.pattern_id, f"1.{j}.0", status, config, 0.0, {}, None, created]
        )
        self.edges.extend((parent, vid, relation, None) for parent, relation in parents)
        return vid

    def activate(self, vid: str) -> None:
        row = next(r for r in reversed(self.versions) if r[0] == vid)
        row[3], row[5] = ACTIVE, 1.0


def deep_pattern() -> PatternBuilder:
    """A chain of 2,000 improvements; each link has a rejected candidate, every 5th a second
    generation, every 50th a ``rolled_back_to`` shortcut from 20 links back."""
    b = PatternBuilder(DEEP_PATTERN)
    chain = [b.add(ARCHIVED, [])]
    for i in range(1, DEEP_CHAIN):
        parents = [(chain[-1], IMPROVED)]
        if i % 50 == 0 and i >= 20:
            parents.append((chain[i - 20], ROLLED))
        chain.append(b.add(ARCHIVED, parents))
        candidate = b.add(REJECTED, [(chain[-1], DERIVED)])
        if i % 5 == 0:
            b.add(REJECTED, [(candidate, DERIVED)])
    b.activate(chain[-1])
    return b


def typical_pattern(index: int, size: int) -> PatternBuilder:
    rng = random.Random(index)
    b = PatternBuilder(f"p{index:06d}")
    chain = [b.add(ARCHIVED, [])]
    for _ in range(size - 1):
        if rng.random() < 0.6:
            parents = [(chain[-1], IMPROVED)]
            if len(chain) > 3 and rng.random() < 0.05:
                parents.append((chain[rng.randrange(len(chain) - 2)], ROLLED))
            chain.append(b.add(ARCHIVED, parents))
        else:
            b.add(REJECTED, [(chain[max(0, len(chain) - 1 - rng.randrange(5))], DERIVED)])
    b.activate(chain[-1])
    return b


def patterns(total: int) -> Iterator[PatternBuilder]:
    """The deep pattern, then patterns of 10..90 versions until ``total``."""
    first = deep_pattern()
    yield first
    left, index, rng = total - len(first.versions), 0, random.Random(0)
    while left > 0:
        size = min(left, rng.randint(10, 90))
        yield typical_pattern(index, size)
        left -= size
        index += 1


async def build(pool: asyncpg.Pool, total: int) -> tuple[int, int, int, dict[str, float]]:
    """COPY in chunks of whole patterns (versions before their edges, one transaction);
    returns the counts and the seconds spent generating, copying and analysing."""
    n_versions = n_edges = n_patterns = 0
    seconds = dict.fromkeys(("generate", "copy_versions", "copy_edges", "analyze"), 0.0)

    async def flush(versions: list[Version], edges: list[Edge]) -> None:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "pattern_versions", columns=VERSION_COLUMNS, records=versions
        )
        middle = time.perf_counter()
        await conn.copy_records_to_table("lineage_edges", columns=EDGE_COLUMNS[:-1], records=edges)
        seconds["copy_versions"] += middle - started
        seconds["copy_edges"] += time.perf_counter() - middle

    async with pool.acquire() as conn, conn.transaction():
        versions: list[Version] = []
        edges: list[Edge] = []
        started = time.perf_counter()
        for builder in patterns(total):
            versions.extend(tuple(row) for row in builder.versions)
            edges.extend(builder.edges)
            n_patterns += 1
            if len(versions) >= CHUNK_VERSIONS:
                seconds["generate"] += time.perf_counter() - started
                await flush(versions, edges)
                n_versions, n_edges = n_versions + len(versions), n_edges + len(edges)
                versions, edges = [], []
                started = time.perf_counter()
        seconds["generate"] += time.perf_counter() - started
        await flush(versions, edges)
        n_versions, n_edges = n_versions + len(versions), n_edges + len(edges)
    started = time.perf_counter()
    await pool.execute("ANALYZE pattern_versions; ANALYZE lineage_edges")
    seconds["analyze"] = time.perf_counter() - started
    return n_versions, n_edges, n_patterns, seconds


def median_ms(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        run()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1e6


async def amedian_ms(run: Callable[[], Awaitable[object]], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter_ns()
        await run()
        times.append(time.perf_counter_ns() - started)
    return statistics.median(times) / 1e6


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def traversals(conn: asyncpg.Connection, store: NodeLineageStoreEffect, deep_id: str) -> None:
    """The deep node's ancestors and descendants on the loaded pattern graph and in SQL."""
    graph = await store.load_pattern(conn, DEEP_PATTERN)
    up, down = graph.get_ancestors(deep_id), graph.get_descendants(deep_id)
    assert len(up) == DEEP_INDEX, len(up)
    up_ms = median_ms(lambda: graph.get_ancestors(deep_id), 500)
    down_ms = median_ms(lambda: graph.get_descendants(deep_id), 500)
    print(
        f"in memory, deep node {deep_id}: ancestors ({len(up):,}) median {up_ms:.3f} ms, "
        f"descendants ({len(down):,}) median {down_ms:.3f} ms (target <= 1 ms)"
    )

    assert await store.ancestors(conn, deep_id) == up
    assert await store.descendants(conn, deep_id) == down
    sql_up = await amedian_ms(lambda: store.ancestors(conn, deep_id), 100)
    sql_down = await amedian_ms(lambda: store.descendants(conn, deep_id), 100)
    print(
        f"SQL WITH RECURSIVE, deep node: ancestors median {sql_up:.2f} ms, "
        f"descendants median {sql_down:.2f} ms (target <= 20 ms; same sets as in memory)"
    )


async def main(total: int) -> None:
    store = NodeLineageStoreEffect()
    deep_id = f"{DEEP_PATTERN}@1.{_deep_node_position()}.0"
    async with bench_pool() as pool:
        n_versions, n_edges, n_patterns, took = await build(pool, total)
        print(
            f"build {n_versions:,} versions / {n_edges:,} edges in {n_patterns:,} patterns: "
            f"generate {took['generate']:.1f} s, COPY versions {took['copy_versions']:.1f} s, "
            f"COPY edges {took['copy_edges']:.1f} s (FK-checked), ANALYZE {took['analyze']:.1f} s"
        )
        async with pool.acquire() as conn:
            typical = await amedian_ms(lambda: store.load_pattern(conn, "p000000"), 50)
            deep_load = await amedian_ms(lambda: store.load_pattern(conn, DEEP_PATTERN), 10)
            sizes = [len(await store.list_versions(conn, p)) for p in ("p000000", DEEP_PATTERN)]
            print(
                f"load one pattern: {sizes[0]} versions median {typical:.2f} ms; "
                f"deep pattern ({sizes[1]:,} versions) median {deep_load:.1f} ms"
            )
            await traversals(conn, store, deep_id)

            gc.collect()
            rss_before, peak_before = rss_mb(), peak_rss_mb()
            started = time.perf_counter()
            everything = await store.load_all(conn)
            load_s = time.perf_counter() - started
            held = rss_mb() - rss_before
            print(
                f"load_all {len(everything):,} versions / {everything.graph.number_of_edges():,} "
                f"node pairs: {load_s:.1f} s, RSS +{held:,.0f} MB held "
                f"(peak RSS {max(peak_rss_mb(), peak_before):,.0f} MB)"
            )


def _deep_node_position() -> int:
    """Where the chain link at depth ``DEEP_INDEX`` lands among the deep pattern's versions."""
    builder = deep_pattern()
    chain = [row[0] for row in builder.versions if row[3] != REJECTED]
    return int(chain[DEEP_INDEX].rpartition("@")[2].split(".")[1])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=1_000_000)
    asyncio.run(main(parser.parse_args().versions))
