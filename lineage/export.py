"""Render a lineage graph for people and tools: table, JSON, Graphviz DOT, Mermaid (and PNG).

The renderers are pure functions of the graph (or of a subset of its versions, with the edges
among them), so they are testable without a database. Only ``dot_to_png`` does I/O: it runs
Graphviz's ``dot`` binary, which is optional.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable, Collection, Iterable
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_onex_error import ModelOnexError
from lineage.config_diff import ConfigChange
from lineage.model_lineage_graph import ModelLineageGraph

ExportFormat = Literal["table", "json", "dot", "mermaid"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("table", "json", "dot", "mermaid")
_ACTIVE = EnumVersionStatus.ACTIVE.value
_DOT_TIMEOUT_S = 60


def selected_ids(graph: ModelLineageGraph, version_ids: Iterable[str] | None = None) -> list[str]:
    """The versions to render, oldest first; an unknown id is a NOT_FOUND error."""
    if version_ids is None:
        ids = list(graph.graph)
    else:
        ids = list(dict.fromkeys(version_ids))
        for vid in ids:
            graph.version(vid)  # raises NOT_FOUND naming the version
    return sorted(ids, key=graph.order_key)


def _edges(graph: ModelLineageGraph, ids: Collection[str]) -> list[tuple[str, str, list[str]]]:
    """Edges with both ends selected, each with its relations sorted."""
    chosen = set(ids)
    return [
        (parent, child, sorted(data["relations"]))
        for parent in ids
        for child, data in graph.graph.succ[parent].items()
        if child in chosen
    ]


def parents_of(graph: ModelLineageGraph, version_id: str) -> list[str]:
    """Oldest first, so the first parent is the version this one was made from."""
    return sorted(graph.graph.pred[version_id], key=graph.order_key)


def format_change(change: ConfigChange) -> str:
    """``path: old -> new``, ``+path=new`` or ``-path (was old)``, values as JSON."""
    plain = change.to_dict()
    old, new = plain["old"], plain["new"]
    if change.kind == "added":
        return f"+{change.path}={json.dumps(new)}"
    if change.kind == "removed":
        return f"-{change.path} (was {json.dumps(old)})"
    return f"{change.path}: {json.dumps(old)} -> {json.dumps(new)}"


def format_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value is not None else "-"


def text_table(rows: list[list[str]]) -> str:
    """Left-aligned columns two spaces apart; the first row is the header."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def export_table(graph: ModelLineageGraph, version_ids: Iterable[str] | None = None) -> str:
    """One row per version: the active one starred, parents with their relations, and what its
    config changed compared with its first parent."""
    rows = [["VERSION", "STATUS", "CREATED", "PARENTS", "CHANGES VS FIRST PARENT"]]
    for vid in selected_ids(graph, version_ids):
        attrs = graph.graph.nodes[vid]
        parents = parents_of(graph, vid)
        links = [
            f"{p} ({', '.join(sorted(graph.graph.edges[p, vid]['relations']))})" for p in parents
        ]
        changes = [format_change(c) for c in graph.config_diff(parents[0], vid)] if parents else []
        rows.append(
            [
                vid + (" *" if attrs["status"] == _ACTIVE else ""),
                attrs["status"],
                format_time(attrs["created_at"]),
                "; ".join(links) or "-",
                "; ".join(changes) or ("(same config)" if parents else "-"),
            ]
        )
    return text_table(rows)


def json_default(value: object) -> str:
    """For ``json.dumps(default=...)``: datetimes as ISO 8601, UUIDs as strings."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def graph_document(
    graph: ModelLineageGraph, version_ids: Iterable[str] | None = None
) -> dict[str, Any]:
    """Nodes with their attributes and edges (one per relation) as plain data."""
    ids = selected_ids(graph, version_ids)
    return {
        "nodes": [{"version_id": vid, **graph.graph.nodes[vid]} for vid in ids],
        "edges": [
            {
                "parent": parent,
                "child": child,
                "relation": relation,
                "correlation_id": graph.graph.edges[parent, child]["relations"][relation],
            }
            for parent, child, relations in _edges(graph, ids)
            for relation in relations
        ],
    }


def export_json(graph: ModelLineageGraph, version_ids: Iterable[str] | None = None) -> str:
    """Datetimes as ISO 8601 and UUIDs as strings, so any JSON reader can take it."""
    return json.dumps(graph_document(graph, version_ids), default=json_default, indent=2) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def export_dot(graph: ModelLineageGraph, version_ids: Iterable[str] | None = None) -> str:
    """Graphviz source; the active version is filled and bold so the head stands out."""
    ids = selected_ids(graph, version_ids)
    lines = [
        "digraph lineage {",
        "  rankdir=TB;",
        '  node [shape=box, style="rounded", fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for vid in ids:
        status = graph.graph.nodes[vid]["status"]
        label = _dot_quote(f"{vid}\n{status}").replace("\n", "\\n")
        style = (
            ', style="rounded,filled,bold", fillcolor="palegreen", penwidth=2'
            if status == _ACTIVE
            else ""
        )
        lines.append(f"  {_dot_quote(vid)} [label={label}{style}];")
    for parent, child, relations in _edges(graph, ids):
        label = _dot_quote(", ".join(relations))
        lines.append(f"  {_dot_quote(parent)} -> {_dot_quote(child)} [label={label}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def mermaid_ids(version_ids: Iterable[str]) -> dict[str, str]:
    """Mermaid node ids allow only letters, digits and ``_``: ``p@1.2.0`` -> ``v_p_1_2_0``
    (the prefix also avoids keywords such as ``end``); clashes get a numeric suffix."""
    ids: dict[str, str] = {}
    taken: set[str] = set()
    for vid in version_ids:
        base = "v_" + re.sub(r"[^A-Za-z0-9_]", "_", vid)
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}_{n}"
        taken.add(candidate)
        ids[vid] = candidate
    return ids


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;")


def export_mermaid(graph: ModelLineageGraph, version_ids: Iterable[str] | None = None) -> str:
    """``graph TD`` with sanitised node ids; labels keep the real version ids."""
    ids = selected_ids(graph, version_ids)
    names = mermaid_ids(ids)
    lines = ["graph TD"]
    for vid in ids:
        status = graph.graph.nodes[vid]["status"]
        marker = ":::active" if status == _ACTIVE else ""
        lines.append(f'  {names[vid]}["{_mermaid_text(vid)}<br/>{status}"]{marker}')
    for parent, child, relations in _edges(graph, ids):
        lines.append(f"  {names[parent]} -->|{', '.join(relations)}| {names[child]}")
    lines.append("  classDef active fill:#c8f7c5,stroke:#2e7d32,stroke-width:2px")
    return "\n".join(lines) + "\n"


RENDERERS: dict[ExportFormat, Callable[[ModelLineageGraph, Iterable[str] | None], str]] = {
    "table": export_table,
    "json": export_json,
    "dot": export_dot,
    "mermaid": export_mermaid,
}


def render(
    graph: ModelLineageGraph, fmt: ExportFormat, version_ids: Iterable[str] | None = None
) -> str:
    return RENDERERS[fmt](graph, version_ids)


def dot_to_png(dot_source: str) -> bytes:
    """Lay out DOT source with Graphviz; a clear error when it is not installed."""
    dot = shutil.which("dot")
    if dot is None:
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT,
            "PNG export needs Graphviz, which is not installed (no `dot` on PATH): install it "
            "(e.g. `apt-get install graphviz`) or use --format dot and render elsewhere",
        )
    done = subprocess.run(
        [dot, "-Tpng"], input=dot_source.encode(), capture_output=True, timeout=_DOT_TIMEOUT_S
    )
    if done.returncode != 0:
        raise ModelOnexError(
            EnumErrorCode.INTERNAL,
            f"Graphviz failed: {done.stderr.decode(errors='replace').strip()}",
        )
    return done.stdout
