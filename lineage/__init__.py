"""Lineage of pattern versions: a plain NetworkX graph plus functions (no database driver).

Its durable copy lives in PostgreSQL and is read and written by
``nodes.effect.node_lineage_store_effect.NodeLineageStoreEffect``.
"""

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
from lineage.model_lineage_graph import ModelLineageGraph, build_graph

__all__ = [
    "EXPORT_FORMATS",
    "ConfigChange",
    "ExportFormat",
    "ModelLineageGraph",
    "build_graph",
    "config_diff",
    "dot_to_png",
    "export_dot",
    "export_json",
    "export_mermaid",
    "export_table",
    "render",
]
