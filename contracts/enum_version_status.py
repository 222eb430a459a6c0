"""Lifecycle of a pattern version: one active per pattern, candidates testing."""

from enum import StrEnum


class EnumVersionStatus(StrEnum):
    DRAFT = "draft"
    TESTING = "testing"
    ACTIVE = "active"
    ARCHIVED = "archived"
    REJECTED = "rejected"
