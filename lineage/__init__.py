"""Lineage of pattern versions: a NetworkX graph in memory, Postgres as its durable copy."""

from lineage.config_diff import ConfigChange, config_diff
from lineage.export import (
    EXPORT_FORMATS,
    ExportFormat,
    dot_to_png,
    export_dot,
    export_json,
    export_mermaid,
    export_table,
    render,
)
from lineage.lineage_transaction import LineageTransaction, lineage_transaction
from lineage.locks import pattern_lock_key
from lineage.model_lineage_graph import ModelLineageGraph, build_graph
from lineage.node_lineage_store_effect import NodeLineageStoreEffect, bump_minor

__all__ = [
    "EXPORT_FORMATS",
    "ConfigChange",
    "ExportFormat",
    "LineageTransaction",
    "ModelLineageGraph",
    "NodeLineageStoreEffect",
    "build_graph",
    "bump_minor",
    "config_diff",
    "dot_to_png",
    "export_dot",
    "export_json",
    "export_mermaid",
    "export_table",
    "lineage_transaction",
    "pattern_lock_key",
    "render",
]
