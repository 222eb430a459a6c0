"""Error codes shared by every node, so callers can branch on a code instead of a message."""

from enum import StrEnum


class EnumErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    DUPLICATE = "DUPLICATE"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    BUSY = "BUSY"
    DATABASE_UNAVAILABLE = "DATABASE_UNAVAILABLE"
    DATABASE_ERROR = "DATABASE_ERROR"
    MIGRATION_ERROR = "MIGRATION_ERROR"
    LINEAGE_INVARIANT = "LINEAGE_INVARIANT"
    INTERNAL = "INTERNAL"
