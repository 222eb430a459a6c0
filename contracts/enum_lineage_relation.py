"""Why an edge parent -> child exists in the lineage graph."""

from enum import StrEnum


class EnumLineageRelation(StrEnum):
    DERIVED_FROM = "derived_from"  # candidate generated from the parent's config
    IMPROVED_VERSION = "improved_version"  # child replaced parent as active after validation
    ROLLED_BACK_TO = "rolled_back_to"  # an operator restored the parent's config as the child
