"""What is wrong with a rejected batch, one line per problem, in file order.

Every stage of ingestion (decoding, parsing, the CSV schema, the row contract, the registry,
the database) reports into one :class:`ProblemLog`, so a user sees the first problems of the
whole file at once (``runs.csv:12: duration_ms: ...``) instead of fixing one per attempt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError

MAX_PROBLEMS_SHOWN = 20


def quote_value(value: object, limit: int = 40) -> str:
    """A bad value as a message shows it: quoted, cut at ``limit`` characters (a 1 MB cell
    must not become a 1 MB error line)."""
    text = str(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True, order=True)
class RowProblem:
    """``order`` sorts problems in file order: a line number, or a row number for rows in memory."""

    order: int
    where: str
    field: str | None
    message: str

    def line(self) -> str:
        return (
            f"{self.where}: {self.field}: {self.message}"
            if self.field
            else (f"{self.where}: {self.message}")
        )


@dataclass(frozen=True)
class RowLocator:
    """Names row ``i`` of a batch: ``runs.csv:12`` for a file's rows, ``row 13`` in memory."""

    source: str = "batch"
    lines: Sequence[int] | None = None

    def order(self, index: int) -> int:
        return self.lines[index] if self.lines is not None else index + 1

    def name(self, index: int) -> str:
        if self.lines is not None:
            return f"{self.source}:{self.lines[index]}"
        return f"row {index + 1}"


@dataclass
class ProblemLog:
    """Keeps the first :data:`MAX_PROBLEMS_SHOWN` problems in file order, counts all of them.

    Stages add problems in file order each, so keeping each stage's first few and merging is
    enough; memory stays bounded however bad a million-row file is.
    """

    source: str = "batch"
    kept: list[RowProblem] = field(default_factory=list)
    total: int = 0

    def __bool__(self) -> bool:
        return self.total > 0

    def add(self, order: int, where: str, field_name: str | None, message: str) -> None:
        self.total += 1
        if len(self.kept) < MAX_PROBLEMS_SHOWN or order < self.kept[-1].order:
            self.kept.append(RowProblem(order, where, field_name, message))
            self.kept.sort()
            del self.kept[MAX_PROBLEMS_SHOWN:]

    def add_row(self, locator: RowLocator, index: int, field_name: str | None, msg: str) -> None:
        self.add(locator.order(index), locator.name(index), field_name, msg)

    def rejection(self, code: EnumErrorCode = EnumErrorCode.INVALID_INPUT) -> ModelOnexError:
        """One summary line, then one line per problem shown, then how many were not shown."""
        noun = "problem" if self.total == 1 else "problems"
        lines = [f"{self.source}: rejected, nothing stored ({self.total} {noun}):"]
        lines += [problem.line() for problem in self.kept]
        if self.total > len(self.kept):
            lines.append(f"... and {self.total - len(self.kept)} more")
        return ModelOnexError(
            code,
            "\n".join(lines),
            details={
                "total": self.total,
                "errors": [
                    {"where": p.where, "field": p.field, "message": p.message} for p in self.kept
                ],
            },
        )


__all__ = ["MAX_PROBLEMS_SHOWN", "ProblemLog", "RowLocator", "RowProblem", "quote_value"]
