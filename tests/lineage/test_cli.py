"""``feedback-loop lineage|versions|rollback`` in-process on a real PostgreSQL.

``main()`` runs its own event loop (``asyncio.run``), so each call goes to a worker thread
while the test's loop seeds and checks the database.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
from pathlib import Path

import asyncpg
import pytest

from contracts.enum_lineage_relation import EnumLineageRelation as R
from contracts.enum_version_status import EnumVersionStatus as S
from lineage import ModelLineageGraph
from nodes.adapters.cli.main import main
from nodes.effect.node_lineage_store_effect import NodeLineageStoreEffect
from tests.lineage.dags import random_dag
from tests.lineage.test_rollback import seed_history

STORE = NodeLineageStoreEffect()


class Cli:
    def __init__(self, dsn: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.dsn, self.capsys = dsn, capsys

    async def __call__(self, *args: str, code: int = 0) -> str:
        self.capsys.readouterr()
        got = await asyncio.to_thread(main, ["--dsn", self.dsn, *args])
        out, err = self.capsys.readouterr()
        assert got == code, (out, err)
        return out if code == 0 else err


@pytest.fixture
def cli(db_dsn: str, capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(db_dsn, capsys)


@pytest.fixture
async def dag(pool: asyncpg.Pool) -> ModelLineageGraph:
    """Two patterns of 40 versions with branches and mixed relations, stored by COPY."""
    graph = random_dag(11, 80, n_patterns=2, extra_parent_p=0.3)
    async with pool.acquire() as conn:
        await STORE.save_graph(conn, graph)
    return graph


def _deep(graph: ModelLineageGraph) -> str:
    """The p0 version with the most ancestors."""
    return max(graph.version_ids("p0"), key=lambda v: len(graph.get_ancestors(v)))


@pytest.mark.parametrize("query", ["ancestors", "descendants"])
async def test_walk_json_matches_graph_and_sql(
    cli: Cli, dag: ModelLineageGraph, query: str
) -> None:
    vid = _deep(dag) if query == "ancestors" else "p0@1.0.0"
    walk = dag.get_ancestors if query == "ancestors" else dag.get_descendants
    expected = walk(vid)
    doc = json.loads(await cli("lineage", query, vid, "--format", "json"))
    assert set(doc[query]) == expected
    assert {n["version_id"] for n in doc["nodes"]} == expected | {vid}
    sql = json.loads(await cli("lineage", query, vid, "--format", "json", "--sql"))
    assert set(sql[query]) == expected
    for relation, depth in ((R.DERIVED_FROM, None), (None, 2), (R.ROLLED_BACK_TO, 3)):
        flags = (["--relation", relation.value] if relation else []) + (
            ["--depth", str(depth)] if depth is not None else []
        )
        memory = json.loads(await cli("lineage", query, vid, "--format", "json", *flags))
        sql = json.loads(await cli("lineage", query, vid, "--format", "json", "--sql", *flags))
        assert (
            set(memory[query]) == set(sql[query]) == walk(vid, relation=relation, max_depth=depth)
        )


@pytest.mark.parametrize("query", ["ancestors", "descendants"])
async def test_a_pattern_id_means_its_active_version_in_memory_and_in_sql(
    cli: Cli, dag: ModelLineageGraph, query: str
) -> None:
    active = dag.resolve("p0")
    walk = dag.get_ancestors if query == "ancestors" else dag.get_descendants
    for where in ([], ["--sql"]):
        doc = json.loads(await cli("lineage", query, "p0", "--format", "json", *where))
        assert set(doc[query]) == walk(active), where


async def test_walk_table_and_sql_table(cli: Cli, dag: ModelLineageGraph) -> None:
    vid = _deep(dag)
    expected = dag.get_ancestors(vid)
    table = await cli("lineage", "ancestors", vid)
    assert table.splitlines()[0] == f"{len(expected)} ancestors of {vid}"
    assert all(a in table for a in expected) and "STATUS" in table
    sql = (await cli("lineage", "ancestors", vid, "--sql")).splitlines()
    assert sql[0] == f"{len(expected)} ancestors of {vid} (SQL)" and set(sql[1:]) == expected


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
async def test_export_graph_formats_name_every_version_and_relation(
    cli: Cli, dag: ModelLineageGraph, fmt: str
) -> None:
    text = await cli("lineage", "export", "p1", "--format", fmt)
    assert text.startswith("digraph" if fmt == "dot" else "graph TD")
    for vid in dag.version_ids("p1"):
        assert vid in text
    assert "p0@" not in text
    relations = {r.value for p, _, r, _ in dag.edges() if p.startswith("p1@")}
    assert relations and all(r in text for r in relations)


async def test_export_json_and_table(cli: Cli, dag: ModelLineageGraph, tmp_path: Path) -> None:
    out = tmp_path / "p0.json"
    assert "wrote" in await cli("lineage", "export", "p0@1.3.0", "--format", "json", "-o", str(out))
    doc = json.loads(out.read_text())
    assert {n["version_id"] for n in doc["nodes"]} == set(dag.version_ids("p0"))
    assert len(doc["edges"]) == sum(1 for p, *_ in dag.edges() if p.startswith("p0@"))
    table = await cli("lineage", "export", "p0")
    assert table.startswith(f"lineage of p0: {len(dag.version_ids('p0'))} versions")


async def test_path_show_and_diff(cli: Cli, dag: ModelLineageGraph) -> None:
    vid = _deep(dag)
    path = json.loads(await cli("lineage", "path", vid, "--format", "json"))["path"]
    # Shortest paths may tie; any one is right if it is a chain of edges from the root.
    assert len(path) == len(dag.get_lineage_path(vid)) and path[0] == "p0@1.0.0"
    assert path[-1] == vid and all(dag.graph.has_edge(a, b) for a, b in itertools.pairwise(path))
    assert (await cli("lineage", "path", vid)).startswith("path: " + " -> ".join(path))

    shown = await cli("lineage", "show", vid)
    assert shown.splitlines()[0].split() == ["version", vid] and "changes vs" in shown
    shown_json = json.loads(await cli("lineage", "show", vid, "--format", "json"))
    assert {p["version_id"] for p in shown_json["parents"]} == set(dag.graph.pred[vid])
    assert {c["version_id"] for c in shown_json["children"]} == set(dag.graph.succ[vid])
    head = dag.head("p0")
    assert head is not None
    shown = await cli("lineage", "show", "p0")
    assert shown.splitlines()[0].split() == ["version", head.version_id]

    diff = json.loads(await cli("lineage", "diff", "p0@1.0.0", "p1@1.2.0", "--format", "json"))
    assert {c["path"] for c in diff["changes"]} == {"i"}
    assert "i: 0 -> 2" in await cli("lineage", "diff", "p0@1.0.0", "p1@1.2.0")


@pytest.mark.parametrize(
    "args",
    [
        ["ancestors", "p0@9.9.9"],
        ["ancestors", "p0@9.9.9", "--sql"],
        ["descendants", "nope", "--sql"],
        ["show", "nope"],
        ["export", "p0@9.9.9"],
        ["diff", "p0@1.0.0", "p0@9.9.9"],
    ],
)
async def test_unknown_version_is_one_line_error(
    cli: Cli, dag: ModelLineageGraph, args: list[str]
) -> None:
    err = await cli("lineage", *args, code=1)
    assert err.startswith("error: ") and err.count("\n") == 1
    assert ("9.9.9" in err) or ("nope" in err)


async def test_png(cli: Cli, dag: ModelLineageGraph, tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exited:  # png is written to a file: a usage error
        await cli("lineage", "export", "p0", "--format", "png")
    assert exited.value.code == 2
    out = tmp_path / "p0.png"
    if shutil.which("dot") is None:
        err = await cli("lineage", "export", "p0", "--format", "png", "-o", str(out), code=1)
        assert "Graphviz" in err and "not installed" in err and not out.exists()
    else:
        await cli("lineage", "export", "p0", "--format", "png", "-o", str(out))
        assert out.read_bytes().startswith(b"\x89PNG")


async def test_versions(cli: Cli, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
        await STORE.update_metrics(
            conn, "p@1.1.0", {"n": 1200, "success_rate": 0.975, "duration_p50": 123.4}
        )
    table = (await cli("versions", "p")).splitlines()
    assert table[0].split() == [
        "VERSION",
        "STATUS",
        "TRAFFIC",
        "CREATED",
        "N",
        "SUCCESS",
        "P50",
        "MS",
    ]
    assert [line.split()[0] for line in table[1:]] == [f"p@1.{i}.0" for i in range(4)]
    active = next(line for line in table if line.startswith("p@1.1.0"))
    assert active.startswith("p@1.1.0 *") and "1,200" in active and "97.5%" in active
    assert "123.4" in active
    history = json.loads(await cli("versions", "p", "--format", "json"))
    assert [v["active"] for v in history] == [False, True, False, False]
    assert [v["status"] for v in history] == ["archived", "active", "testing", "testing"]
    patterns = json.loads(await cli("versions", "--all", "--format", "json"))
    assert patterns == [{"pattern_id": "p", "active": "p@1.1.0", "versions": 4, "testing": 2}]
    assert "p@1.1.0" in await cli("versions", "--all")
    assert "no pattern 'q'" in await cli("versions", "q", code=1)
    for neither_or_both in ([], ["p", "--all"]):
        with pytest.raises(SystemExit) as exited:
            await cli("versions", *neither_or_both)
        assert exited.value.code == 2


async def test_rollback_command(cli: Cli, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        await seed_history(conn)
    out = await cli("rollback", "p", "--to", "p@1.0.0", "--reason", "bad", "--actor", "bob")
    assert "p@1.4.0 is now active" in out
    assert "restored from: p@1.0.0" in out and "archived: p@1.1.0" in out
    assert "2 improvement(s)" in out
    async with pool.acquire() as conn:
        head = await STORE.load_pattern(conn, "p")
        actor = await conn.fetchval("SELECT actor FROM audit_log WHERE action = 'rollback'")
    assert head.version("p@1.4.0").status is S.ACTIVE and actor == "bob"
    again = await cli("rollback", "p", "--to", "1.0.0")  # a retry: nothing to do, exit 0
    assert again.startswith("nothing to do: p@1.4.0, the active version, already runs")
    assert "p@7.0.0" in await cli("rollback", "p", "--to", "7.0.0", code=1)
    with pytest.raises(SystemExit) as exited:  # a version of another pattern: a usage error
        await cli("rollback", "p", "--to", "q@1.0.0")
    assert exited.value.code == 2


@pytest.mark.parametrize(
    "args",
    [
        ["lineage"],
        ["lineage", "ancestors"],
        ["lineage", "descendants"],
        ["lineage", "path"],
        ["lineage", "show"],
        ["lineage", "diff"],
        ["lineage", "export"],
        ["versions"],
        ["rollback"],
    ],
)
def test_every_subcommand_has_help(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: feedback-loop") and len(out.splitlines()) > 4


async def test_one_ancestor_is_singular(cli: Cli, dag: ModelLineageGraph) -> None:
    child = next(v for v in dag.version_ids("p0") if len(dag.get_ancestors(v)) == 1)
    assert (await cli("lineage", "ancestors", child)).splitlines()[0] == f"1 ancestor of {child}"
    sql = (await cli("lineage", "ancestors", child, "--sql")).splitlines()[0]
    assert sql == f"1 ancestor of {child} (SQL)"
