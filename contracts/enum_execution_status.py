"""Outcome of one execution, as the user's hooks record it."""

from enum import StrEnum


class EnumExecutionStatus(StrEnum):
    SUCCESS = "success"
    FAILURE = "failure"
    TIMEOUT = "timeout"
    ERROR = "error"
