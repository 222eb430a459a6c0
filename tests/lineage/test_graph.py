"""The in-memory lineage graph: invariants and traversals (no database)."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import networkx as nx
import pytest

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_lineage_relation import EnumLineageRelation as R
from contracts.enum_version_status import EnumVersionStatus as S
from contracts.model_onex_error import ModelOnexError
from lineage import ModelLineageGraph, config_diff
from tests.lineage.dags import random_dag, version


def _diamond() -> ModelLineageGraph:
    """1.0 -> 1.1 -> 1.3 (active); 1.0 -> 1.2 -> 1.3; 1.2 -> 1.4 (testing)."""
    g = ModelLineageGraph()
    g.add_version(version("p", 0, S.ARCHIVED, timeout=10))
    g.add_version(version("p", 1, S.ARCHIVED, timeout=20))
    g.add_version(version("p", 2, S.REJECTED, timeout=10, retries=2))
    g.add_version(version("p", 3, S.ACTIVE, timeout=20, retries=2))
    g.add_version(version("p", 4, S.TESTING, timeout=30))
    g.add_edge("p@1.0.0", "p@1.1.0", R.DERIVED_FROM)
    g.add_edge("p@1.0.0", "p@1.1.0", R.IMPROVED_VERSION)
    g.add_edge("p@1.0.0", "p@1.2.0", R.DERIVED_FROM)
    g.add_edge("p@1.1.0", "p@1.3.0", R.IMPROVED_VERSION)
    g.add_edge("p@1.2.0", "p@1.3.0", R.DERIVED_FROM)
    g.add_edge("p@1.2.0", "p@1.4.0", R.ROLLED_BACK_TO)
    return g


def _code(exc: pytest.ExceptionInfo[ModelOnexError]) -> EnumErrorCode:
    return exc.value.code


def test_traversals() -> None:
    g = _diamond()
    assert g.get_ancestors("p@1.3.0") == {"p@1.0.0", "p@1.1.0", "p@1.2.0"}
    assert g.get_descendants("p@1.0.0") == {"p@1.1.0", "p@1.2.0", "p@1.3.0", "p@1.4.0"}
    assert g.get_ancestors("p@1.3.0", relation=R.IMPROVED_VERSION) == {"p@1.1.0", "p@1.0.0"}
    assert g.get_descendants("p@1.0.0", max_depth=1) == {"p@1.1.0", "p@1.2.0"}
    assert g.get_descendants("p@1.0.0", relation=[R.DERIVED_FROM], max_depth=2) == {
        "p@1.1.0",
        "p@1.2.0",
        "p@1.3.0",
    }
    assert g.get_descendants("p@1.0.0", max_depth=0) == set()
    assert g.get_lineage_path("p@1.4.0") == ["p@1.0.0", "p@1.2.0", "p@1.4.0"]
    assert g.get_lineage_path("p@1.0.0") == ["p@1.0.0"]
    assert g.lowest_common_ancestor("p@1.3.0", "p@1.4.0") == "p@1.2.0"
    assert g.lowest_common_ancestor("p@1.1.0", "p@1.2.0") == "p@1.0.0"
    assert g.lowest_common_ancestor("p@1.0.0", "p@1.3.0") == "p@1.0.0"
    head = g.head("p")
    assert head is not None and head.version_id == "p@1.3.0"
    assert [v.version for v in g.history("p")] == ["1.0.0", "1.1.0", "1.2.0", "1.3.0", "1.4.0"]
    assert g.relations("p@1.0.0", "p@1.1.0").keys() == {R.DERIVED_FROM, R.IMPROVED_VERSION}
    diff = [c.to_dict() for c in g.config_diff("p@1.0.0", "p@1.3.0")]
    assert diff == [
        {"path": "i", "kind": "changed", "old": 0, "new": 3},
        {"path": "retries", "kind": "added", "old": None, "new": 2},
        {"path": "timeout", "kind": "changed", "old": 10, "new": 20},
    ]


def test_traversals_match_networkx_on_random_dags() -> None:
    g = random_dag(seed=7, n_versions=400, n_patterns=3)
    for vid in list(g.graph)[::37]:
        assert g.get_ancestors(vid) == nx.ancestors(g.graph, vid)
        assert g.get_descendants(vid, max_depth=10**6) == nx.descendants(g.graph, vid)
        path = g.get_lineage_path(vid)
        assert path[-1] == vid and g.graph.in_degree(path[0]) == 0
        assert all(g.graph.has_edge(a, b) for a, b in itertools.pairwise(path))


def test_config_diff_nested_and_types() -> None:
    changes = config_diff({"a": {"b": 1, "c": 2}, "t": 1}, {"a": {"b": 1, "c": 3}, "t": 1.5})
    assert [(c.path, c.old, c.new) for c in changes] == [("a.c", 2, 3), ("t", 1, 1.5)]
    assert config_diff({"x": 1}, {"x": 1}) == []
    assert [c.kind for c in config_diff({"x": 1}, {"y": 1})] == ["removed", "added"]


@pytest.mark.parametrize(
    ("parent", "child", "words"),
    [
        ("p@1.3.0", "p@1.0.0", "cycle"),
        ("p@1.4.0", "p@1.2.0", "cycle"),
        ("p@1.3.0", "p@1.3.0", "own parent"),
        ("p@1.3.0", "p@9.9.9", "no version p@9.9.9"),
        ("p@1.3.0", "q@1.0.0", "crosses patterns"),
    ],
)
def test_invalid_edges_are_refused_and_change_nothing(parent: str, child: str, words: str) -> None:
    g = _diamond()
    g.add_version(version("q", 0, S.ACTIVE))
    before = nx.to_dict_of_dicts(g.graph)
    with pytest.raises(ModelOnexError) as exc:
        g.add_edge(parent, child, R.DERIVED_FROM)
    assert _code(exc) is EnumErrorCode.LINEAGE_INVARIANT and words in str(exc.value)
    assert nx.to_dict_of_dicts(g.graph) == before


def test_one_active_version_per_pattern() -> None:
    g = _diamond()
    with pytest.raises(ModelOnexError, match="already has an active version"):
        g.set_status("p@1.4.0", S.ACTIVE)
    with pytest.raises(ModelOnexError, match="already has an active version"):
        g.add_version(version("p", 5, S.ACTIVE))
    assert "p@1.5.0" not in g
    g.set_status("p@1.3.0", S.ARCHIVED)
    g.set_status("p@1.4.0", S.ACTIVE)
    head = g.head("p")
    assert head is not None and head.version_id == "p@1.4.0"


def test_unknown_version_is_not_found() -> None:
    with pytest.raises(ModelOnexError) as exc:
        _diamond().get_ancestors("p@7.0.0")
    assert _code(exc) is EnumErrorCode.NOT_FOUND


def test_a_pattern_id_means_its_active_version() -> None:
    g = _diamond()  # p@1.3.0 is active
    g.add_version(version("q", 0, S.ACTIVE))
    assert g.resolve("p") == "p@1.3.0" and g.resolve("p@1.1.0") == "p@1.1.0"
    assert g.get_ancestors("p") == g.get_ancestors("p@1.3.0") == {"p@1.0.0", "p@1.1.0", "p@1.2.0"}
    assert g.get_ancestors("p", relation=R.IMPROVED_VERSION, max_depth=1) == {"p@1.1.0"}
    assert g.get_descendants("p") == set()
    assert g.get_descendants("q") == set() and g.get_ancestors("q") == set()
    assert g.get_lineage_path("p") == ["p@1.0.0", "p@1.1.0", "p@1.3.0"]
    assert g.get_lineage_path("q") == ["q@1.0.0"]
    assert g.lowest_common_ancestor("p", "p@1.4.0") == "p@1.2.0"
    # The active version moves: the pattern id follows it.
    g.set_status("p@1.3.0", S.ARCHIVED)
    g.set_status("p@1.2.0", S.ACTIVE)
    assert g.get_descendants("p") == {"p@1.3.0", "p@1.4.0"}
    assert g.get_lineage_path("p") == ["p@1.0.0", "p@1.2.0"]


@pytest.mark.parametrize(
    "walk",
    [
        lambda g, ref: g.get_ancestors(ref),
        lambda g, ref: g.get_descendants(ref, max_depth=2),
        lambda g, ref: g.get_lineage_path(ref),
    ],
    ids=["ancestors", "descendants", "path"],
)
def test_a_pattern_without_an_active_version_is_not_found(
    walk: Callable[[ModelLineageGraph, str], object],
) -> None:
    g = _diamond()
    g.set_status("p@1.3.0", S.ARCHIVED)  # p has versions, none active
    for ref in ("p", "nobody"):
        with pytest.raises(ModelOnexError) as exc:
            walk(g, ref)
        assert _code(exc) is EnumErrorCode.NOT_FOUND
        assert f"no active version of pattern {ref!r} in the lineage graph" in str(exc.value)
    with pytest.raises(ModelOnexError) as exc:
        walk(g, "p@7.0.0")
    assert _code(exc) is EnumErrorCode.NOT_FOUND and "no version 'p@7.0.0'" in str(exc.value)


def test_replace_pattern_swaps_one_component() -> None:
    g = random_dag(seed=1, n_versions=30, n_patterns=2)
    fresh = random_dag(seed=2, n_versions=10, n_patterns=1)
    g.replace_pattern("p0", fresh)
    assert sorted(g.version_ids("p0")) == sorted(fresh.graph)
    assert len(g.version_ids("p1")) == 15
    head = g.head("p0")
    assert head is not None and head.version == "1.9.0"
