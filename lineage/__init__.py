"""Lineage of pattern versions: a NetworkX graph in memory, Postgres as its durable copy."""

from lineage.config_diff import ConfigChange, config_diff
from lineage.lineage_transaction import LineageTransaction, lineage_transaction
from lineage.locks import pattern_lock_key
from lineage.model_lineage_graph import ModelLineageGraph, build_graph
from lineage.node_lineage_store_effect import NodeLineageStoreEffect, bump_minor

__all__ = [
    "ConfigChange",
    "LineageTransaction",
    "ModelLineageGraph",
    "NodeLineageStoreEffect",
    "build_graph",
    "bump_minor",
    "config_diff",
    "lineage_transaction",
    "pattern_lock_key",
]
