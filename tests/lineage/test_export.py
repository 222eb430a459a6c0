"""Export renderers: pure functions of the graph, checked without a database."""

from __future__ import annotations

import json
import re
import shutil
from uuid import uuid4

import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation as R
from contracts.enum_version_status import EnumVersionStatus as S
from contracts.model_onex_error import ModelOnexError
from lineage import ModelLineageGraph
from lineage.export import (
    dot_to_png,
    export_dot,
    export_json,
    export_mermaid,
    export_table,
    mermaid_ids,
)
from tests.lineage.dags import random_dag, version

CID = uuid4()


def _small() -> ModelLineageGraph:
    """p@1.0.0 -> p@1.1.0 (derived_from + improved_version, timeout changed) -> p@1.2.0."""
    graph = ModelLineageGraph()
    graph.add_version(version("p", 0, S.ARCHIVED, timeout=10))
    graph.add_version(version("p", 1, S.ARCHIVED, timeout=20))
    graph.add_version(version("p", 2, S.ACTIVE, timeout=10))
    graph.add_edge("p@1.0.0", "p@1.1.0", R.DERIVED_FROM, correlation_id=CID)
    graph.add_edge("p@1.0.0", "p@1.1.0", R.IMPROVED_VERSION, correlation_id=CID)
    graph.add_edge("p@1.0.0", "p@1.2.0", R.ROLLED_BACK_TO)
    return graph


def test_table_shows_status_parents_and_config_diff() -> None:
    text = export_table(_small())
    lines = text.splitlines()
    assert lines[0].split()[:2] == ["VERSION", "STATUS"]
    row = next(line for line in lines if line.startswith("p@1.1.0"))
    assert "archived" in row and "2026-01-01 00:00:01" in row
    assert "p@1.0.0 (derived_from, improved_version)" in row
    assert "i: 0 -> 1" in row and "timeout: 10 -> 20" in row
    active = next(line for line in lines if line.startswith("p@1.2.0"))
    assert active.startswith("p@1.2.0 *") and "rolled_back_to" in active
    root = next(line for line in lines if line.startswith("p@1.0.0"))
    assert root.split()[-1] == "-"  # no parent, no diff


def test_json_round_trips_the_graph() -> None:
    graph = random_dag(3, 60, n_patterns=2)
    doc = json.loads(export_json(graph))
    assert {n["version_id"] for n in doc["nodes"]} == set(graph.graph)
    for node in doc["nodes"]:
        attrs = graph.graph.nodes[node["version_id"]]
        assert node["status"] == attrs["status"] and node["config"] == attrs["config"]
        assert node["created_at"] == attrs["created_at"].isoformat()
    assert {(e["parent"], e["child"], e["relation"]) for e in doc["edges"]} == {
        (p, c, r.value) for p, c, r, _ in graph.edges()
    }


def test_json_writes_uuids_as_strings_and_subsets_keep_inner_edges() -> None:
    doc = json.loads(export_json(_small(), ["p@1.0.0", "p@1.1.0"]))
    assert [n["version_id"] for n in doc["nodes"]] == ["p@1.0.0", "p@1.1.0"]
    assert {e["correlation_id"] for e in doc["edges"]} == {str(CID)}
    assert {e["relation"] for e in doc["edges"]} == {"derived_from", "improved_version"}


def test_unknown_version_in_subset_is_not_found() -> None:
    with pytest.raises(ModelOnexError) as err:
        export_json(_small(), ["p@9.9.9"])
    assert err.value.code is EnumErrorCode.NOT_FOUND and "p@9.9.9" in err.value.message


def test_dot_highlights_active_and_labels_relations() -> None:
    graph = random_dag(5, 40)
    text = export_dot(graph)
    assert text.startswith("digraph lineage {") and text.rstrip().endswith("}")
    for vid in graph.graph:
        assert f'"{vid}"' in text
    for parent, child, relation, _ in graph.edges():
        edge = next(line for line in text.splitlines() if f'"{parent}" -> "{child}"' in line)
        assert relation.value in edge
    active = [line for line in text.splitlines() if "filled" in line]
    head = graph.head("p0")
    assert head is not None and len(active) == 1 and f'"{head.version_id}"' in active[0]


def test_mermaid_ids_are_valid_and_labels_keep_real_ids() -> None:
    graph = _small()
    text = export_mermaid(graph)
    lines = text.splitlines()
    assert lines[0] == "graph TD"
    names = mermaid_ids(graph.graph)
    for vid, name in names.items():
        assert re.fullmatch(r"[A-Za-z0-9_]+", name)
        assert f'{name}["{vid}<br/>' in text
    assert f"{names['p@1.2.0']}[" in next(line for line in lines if ":::active" in line)
    assert f"{names['p@1.0.0']} -->|derived_from, improved_version| {names['p@1.1.0']}" in text
    assert f"{names['p@1.0.0']} -->|rolled_back_to| {names['p@1.2.0']}" in text


def test_mermaid_ids_never_clash() -> None:
    names = mermaid_ids(["a@1.0.0", "a_1.0.0", "a@1_0.0"])
    assert len(set(names.values())) == 3


@pytest.mark.skipif(shutil.which("dot") is not None, reason="Graphviz is installed here")
def test_png_without_graphviz_says_so() -> None:
    with pytest.raises(ModelOnexError, match=r"Graphviz.*not installed"):
        dot_to_png(export_dot(_small()))


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_png_with_graphviz() -> None:
    assert dot_to_png(export_dot(_small())).startswith(b"\x89PNG")
