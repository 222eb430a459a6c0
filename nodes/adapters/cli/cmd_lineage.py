"""``feedback-loop lineage ancestors|descendants|path|show|diff|export``: read the lineage.

Queries load one pattern's component (the unit of loading) and answer in
memory; ``--sql`` answers ancestors/descendants with a recursive query instead, without loading
the graph, which is what to use on a pattern with a very large history.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from contracts.enum_lineage_relation import EnumLineageRelation
from lineage import ModelLineageGraph
from lineage.export import (
    dot_to_png,
    export_dot,
    format_change,
    format_time,
    graph_document,
    json_default,
    parents_of,
    render,
)
from nodes.adapters.cli.arg_types import (
    PATTERN_OR_VERSION_ID,
    VERSION_ID,
    at_least,
    check_usage,
)
from nodes.adapters.cli.context import CliContext

_GRAPH_FORMATS = ("table", "json", "dot", "mermaid", "png")

_HELP = {
    "ancestors": (
        "versions VERSION descends from",
        "Every version VERSION descends from, optionally only along --relation edges and at "
        "most --depth hops up. Answered on the pattern's graph in memory, or with --sql by a "
        "recursive query (no graph load).",
    ),
    "descendants": (
        "versions made from VERSION",
        "Every version descending from VERSION, optionally only along --relation edges and at "
        "most --depth hops down. Answered on the pattern's graph in memory, or with --sql by a "
        "recursive query (no graph load).",
    ),
    "path": (
        "how VERSION came to be: root -> VERSION",
        "The shortest chain of versions from the pattern's oldest root to VERSION.",
    ),
    "show": (
        "one version: fields, parents, children",
        "One version's status, traffic weight, config, metric snapshot, parents and children, "
        "and how its config differs from its first parent. A bare PATTERN shows its active "
        "version.",
    ),
    "diff": (
        "config diff between two versions",
        "How VERSION2's config differs from VERSION's, key by key (nested keys as dotted paths).",
    ),
    "export": (
        "the whole lineage of a pattern",
        "Every version and edge of the pattern of VERSION (or of a bare PATTERN), for people "
        "(table) or tools (json, Graphviz dot, Mermaid, png with Graphviz installed).",
    ),
}


def register(commands: Any) -> None:
    lineage = commands.add_parser(
        "lineage",
        help="query and export the lineage graph of pattern versions",
        description="Query and export the lineage graph: which version came from which, and "
        "why (derived_from, improved_version, rolled_back_to). VERSION is PATTERN@x.y.z.",
    )
    queries = lineage.add_subparsers(dest="query", metavar="QUERY", required=True)
    for name, (short, long) in _HELP.items():
        cmd = queries.add_parser(name, help=short, description=long)
        subject = {
            "show": "a version, or a bare pattern id (its active, else newest, version)",
            "export": "a version or a bare pattern id",
            "ancestors": "a version, or a bare pattern id (its active version)",
            "descendants": "a version, or a bare pattern id (its active version)",
            "path": "a version, or a bare pattern id (its active version)",
        }.get(name, "a version")
        # diff compares two configs: only a version names one; the rest resolve a bare id
        subject_id = VERSION_ID if name == "diff" else PATTERN_OR_VERSION_ID
        cmd.add_argument(
            "version", type=subject_id, metavar="VERSION", help=f"{subject} (e.g. api_debug@1.2.0)"
        )
        formats = ("table", "json") if name == "diff" else _GRAPH_FORMATS
        if name == "diff":
            cmd.add_argument(
                "version2", type=VERSION_ID, metavar="VERSION2", help="the version to compare with"
            )
        cmd.add_argument(
            "--format",
            choices=formats,
            default="table",
            help="table (default, for people), " + ", ".join(formats[1:]),
        )
        if name in ("ancestors", "descendants"):
            cmd.add_argument(
                "--relation",
                action="append",
                choices=[r.value for r in EnumLineageRelation],
                help="follow only edges of this relation (repeatable; default: all)",
            )
            cmd.add_argument(
                "--depth", type=at_least(0), metavar="N", help="at most N hops (default: unlimited)"
            )
            cmd.add_argument(
                "--sql",
                action="store_true",
                help="answer with a recursive SQL query instead of loading the graph "
                "(table or json output: version ids only)",
            )
        if name != "diff":
            cmd.add_argument(
                "-o",
                "--output",
                metavar="FILE",
                help="write to FILE instead of stdout (png needs it)",
            )
            check_usage(cmd, _format_usable)
        cmd.set_defaults(handler=_HANDLERS[name])


def _format_usable(args: argparse.Namespace) -> str | None:
    """A graph query's --format against its other options: png is written to a file, and
    --sql (ancestors, descendants) answers with version ids only."""
    if args.format == "png" and args.output is None:
        return "--format png needs --output FILE"
    if getattr(args, "sql", False) and args.format not in ("table", "json"):
        return "--sql lists version ids: use --format table or json"
    return None


def _pattern_of(subject: str) -> str:
    return subject.partition("@")[0]


def _count(ids: list[str], query: str) -> str:
    """``2 ancestors``, ``1 ancestor``, ``0 descendants``."""
    return f"{len(ids)} {query if len(ids) != 1 else query.removesuffix('s')}"


def _semver_key(version_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version_id.rpartition("@")[2].split("."))


async def _load(ctx: CliContext, pattern_id: str) -> ModelLineageGraph:
    return await ctx.service().lineage(pattern_id)


def _emit(text: str, output: str | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")
        print(f"wrote {output}")


def _emit_graph(
    graph: ModelLineageGraph,
    ids: list[str],
    args: argparse.Namespace,
    *,
    heading: str,
    extra: dict[str, Any],
) -> None:
    """A subset of the graph in the chosen format; the table gets a one-line heading and JSON
    the query's answer next to the nodes and edges."""
    if args.format == "png":
        Path(args.output).write_bytes(dot_to_png(export_dot(graph, ids)))
        print(f"wrote {args.output}")
    elif args.format == "json":
        document = {**extra, **graph_document(graph, ids)}
        _emit(json.dumps(document, default=json_default, indent=2) + "\n", args.output)
    elif args.format == "table":
        _emit(f"{heading}\n\n{render(graph, 'table', ids)}", args.output)
    else:
        _emit(render(graph, args.format, ids), args.output)


async def _walk(args: argparse.Namespace, ctx: CliContext) -> int:
    up = args.query == "ancestors"
    relation = [EnumLineageRelation(r) for r in args.relation] if args.relation else None
    if args.sql:
        service = ctx.service()
        walk = service.ancestors_in_sql if up else service.descendants_in_sql
        found = await walk(args.version, relation=relation, max_depth=args.depth)
        ids = sorted(found, key=_semver_key)
        if args.format == "json":
            document = {"version_id": args.version, args.query: ids}
            _emit(json.dumps(document, indent=2) + "\n", args.output)
        else:
            lines = [f"{_count(ids, args.query)} of {args.version} (SQL)", *ids]
            _emit("\n".join(lines) + "\n", args.output)
        return 0
    graph = await _load(ctx, _pattern_of(args.version))
    version = graph.resolve(args.version)  # a bare pattern id means its active version
    walk_graph = graph.get_ancestors if up else graph.get_descendants
    found = walk_graph(version, relation=relation, max_depth=args.depth)
    ids = sorted(found, key=_semver_key)
    _emit_graph(
        graph,
        [*ids, version],
        args,
        heading=f"{_count(ids, args.query)} of {version}",
        extra={"version_id": version, args.query: ids},
    )
    return 0


async def _path(args: argparse.Namespace, ctx: CliContext) -> int:
    graph = await _load(ctx, _pattern_of(args.version))
    path = graph.get_lineage_path(args.version)
    _emit_graph(
        graph,
        path,
        args,
        heading="path: " + " -> ".join(path),
        extra={"version_id": args.version, "path": path},
    )
    return 0


def _subject_version(graph: ModelLineageGraph, subject: str) -> str:
    """A version id as given, or the active (else newest) version of a bare pattern id."""
    if "@" in subject:
        graph.version(subject)  # NOT_FOUND naming it
        return subject
    head = graph.head(subject)
    return head.version_id if head is not None else graph.history(subject)[-1].version_id


def _neighbours(graph: ModelLineageGraph, version_id: str, *, up: bool) -> list[dict[str, Any]]:
    ids = parents_of(graph, version_id) if up else sorted(graph.graph.succ[version_id])
    return [
        {
            "version_id": other,
            "relations": sorted(
                graph.graph.edges[(other, version_id) if up else (version_id, other)]["relations"]
            ),
        }
        for other in ids
    ]


def _show_table(graph: ModelLineageGraph, version_id: str) -> str:
    version = graph.version(version_id)
    parents = _neighbours(graph, version_id, up=True)
    children = _neighbours(graph, version_id, up=False)

    def links(items: list[dict[str, Any]]) -> str:
        return "; ".join(f"{i['version_id']} ({', '.join(i['relations'])})" for i in items) or "-"

    rows = [
        ("version", version_id),
        ("status", version.status.value),
        ("traffic weight", f"{version.traffic_weight:g}"),
        ("created", format_time(version.created_at)),
        ("correlation id", str(version.correlation_id or "-")),
        ("config", json.dumps(version.config, sort_keys=True)),
        ("metrics", json.dumps(version.metrics, sort_keys=True)),
        ("parents", links(parents)),
        ("children", links(children)),
    ]
    if parents:
        first = parents[0]["version_id"]
        changes = [format_change(c) for c in graph.config_diff(first, version_id)]
        rows.append((f"changes vs {first}", "; ".join(changes) or "(same config)"))
    width = max(len(label) for label, _ in rows)
    return "".join(f"{label.ljust(width)}  {value}\n" for label, value in rows)


async def _show(args: argparse.Namespace, ctx: CliContext) -> int:
    graph = await _load(ctx, _pattern_of(args.version))
    version_id = _subject_version(graph, args.version)
    if args.format == "table":
        _emit(_show_table(graph, version_id), args.output)
        return 0
    parents = _neighbours(graph, version_id, up=True)
    children = _neighbours(graph, version_id, up=False)
    ids = [version_id] + [n["version_id"] for n in parents + children]
    _emit_graph(
        graph,
        ids,
        args,
        heading=version_id,
        extra={"version_id": version_id, "parents": parents, "children": children},
    )
    return 0


async def _diff(args: argparse.Namespace, ctx: CliContext) -> int:
    first_pattern, second_pattern = _pattern_of(args.version), _pattern_of(args.version2)
    graph = await _load(ctx, first_pattern)
    if second_pattern != first_pattern:
        graph.replace_pattern(second_pattern, await _load(ctx, second_pattern))
    changes = graph.config_diff(args.version, args.version2)
    if args.format == "json":
        document = {
            "from": args.version,
            "to": args.version2,
            "changes": [c.to_dict() for c in changes],
        }
        print(json.dumps(document, indent=2))
    else:
        print(f"config diff {args.version} -> {args.version2}:")
        for change in changes:
            print(f"  {format_change(change)}")
        if not changes:
            print("  (same config)")
    return 0


async def _export(args: argparse.Namespace, ctx: CliContext) -> int:
    pattern_id = _pattern_of(args.version)
    graph = await _load(ctx, pattern_id)
    if "@" in args.version:
        graph.version(args.version)  # an unknown version is an error, not a silent export
    edges = sum(len(d["relations"]) for _, _, d in graph.graph.edges(data=True))
    _emit_graph(
        graph,
        list(graph.graph),
        args,
        heading=f"lineage of {pattern_id}: {len(graph)} versions, {edges} edges",
        extra={"pattern_id": pattern_id},
    )
    return 0


_HANDLERS = {
    "ancestors": _walk,
    "descendants": _walk,
    "path": _path,
    "show": _show,
    "diff": _diff,
    "export": _export,
}
