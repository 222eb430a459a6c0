"""Reads executions from JSONL or CSV files into plain rows for the ingestion node."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.enum_error_code import EnumErrorCode
from contracts.model_onex_error import ModelOnexError

_JSON_COLUMNS = ("quality_results", "metadata")


@dataclass(frozen=True)
class ExecutionFile:
    """Rows plus a human name per row ("line 12 of runs.csv") for error messages."""

    rows: list[dict[str, Any]]
    row_names: list[str]


def _bad_line(path: Path, line: int, message: str) -> ModelOnexError:
    return ModelOnexError(
        EnumErrorCode.INVALID_INPUT,
        f"batch rejected, nothing stored: line {line} of {path.name}: {message}",
        details={"line": line},
    )


def _read_jsonl(path: Path) -> ExecutionFile:
    rows, names = [], []
    with path.open(encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise _bad_line(path, line_number, f"not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise _bad_line(path, line_number, "expected a JSON object")
            rows.append(row)
            names.append(f"line {line_number} of {path.name}")
    return ExecutionFile(rows, names)


def _read_csv(path: Path) -> ExecutionFile:
    rows, names = [], []
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        for row in reader:
            line_number = reader.line_num
            if None in row:
                raise _bad_line(path, line_number, "more cells than header columns")
            parsed: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
            for column in _JSON_COLUMNS:
                cell = parsed.get(column)
                if cell is None:
                    parsed.pop(column, None)
                    continue
                try:
                    parsed[column] = json.loads(cell)
                except json.JSONDecodeError as exc:
                    raise _bad_line(
                        path, line_number, f"{column}: not valid JSON ({exc.msg})"
                    ) from None
            rows.append(parsed)
            names.append(f"line {line_number} of {path.name}")
    return ExecutionFile(rows, names)


def read_execution_file(path: Path) -> ExecutionFile:
    """JSONL (``.jsonl``/``.ndjson``) or CSV (``.csv``, header row naming the columns)."""
    if not path.is_file():
        raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no such file: {path}")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise ModelOnexError(
        EnumErrorCode.INVALID_INPUT,
        f"cannot tell the format of {path.name}: use a .jsonl or .csv file",
    )
