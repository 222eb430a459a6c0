"""The one error type of nodes and workflows: a code, a message, and the run it belongs to."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from contracts.enum_error_code import EnumErrorCode


class ModelOnexError(Exception):
    """Raised by nodes; the orchestrator turns it into a failed ``ModelResult``."""

    def __init__(
        self,
        code: EnumErrorCode,
        message: str,
        *,
        correlation_id: UUID | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.correlation_id = correlation_id
        self.details: dict[str, Any] = details or {}

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "message": self.message,
            "correlation_id": str(self.correlation_id) if self.correlation_id else None,
            "details": self.details,
        }
