"""Lifecycle of a pattern version (DESIGN.md section 1)."""

from enum import StrEnum


class EnumVersionStatus(StrEnum):
    DRAFT = "draft"
    TESTING = "testing"
    ACTIVE = "active"
    ARCHIVED = "archived"
    REJECTED = "rejected"
