"""Reads executions from JSONL or CSV files into plain rows for the ingestion node.

The reader owns what only a file can get wrong: its encoding (UTF-8, a BOM accepted), lines
too long to be a row, JSON that is not JSON (NaN and Infinity included: PostgreSQL cannot store
them), nesting deep enough to exhaust a parser, and CSV cells, which are all text and are
converted by the declared :data:`CSV_SCHEMA` rather than guessed. Everything else about a row
is the row contract's job, applied to file rows and in-memory rows alike.

Problems are collected, not raised, so one report names every bad line (the first
:data:`~nodes.effect.ingest_problems.MAX_PROBLEMS_SHOWN` of them) in file order.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, cast, overload

from pydantic import ValidationError

from contracts.enum_error_code import EnumErrorCode
from contracts.model_execution_record import EXECUTION_RECORDS, MAX_JSON_DEPTH, MAX_ROW_BYTES
from contracts.model_onex_error import ModelOnexError
from nodes.effect.bulk_allocation import collector_paused
from nodes.effect.ingest_problems import ProblemLog, RowLocator, quote_value

JSONL_SUFFIXES: Final = (".jsonl", ".ndjson", ".json")
CSV_SUFFIXES: Final = (".csv",)

_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _integer(cell: str) -> int:
    if not _INTEGER.fullmatch(cell):
        raise ValueError(f"not an integer: {quote_value(cell)}")
    return int(cell)


def _decimal(cell: str) -> float:
    if not _DECIMAL.fullmatch(cell):
        raise ValueError(f"not a decimal number: {quote_value(cell)}")
    return float(cell)


def _json_object(cell: str) -> dict[str, Any]:
    value = loads_json(cell)
    if not isinstance(value, dict):
        raise ValueError("expected a JSON object")
    return value


def _text(cell: str) -> str:
    return cell


CSV_SCHEMA: Final[dict[str, Callable[[str], Any]]] = {
    "execution_id": _text,
    "pattern_id": _text,
    "version_id": _text,
    "variant": _text,
    "started_at": _text,
    "duration_ms": _decimal,
    "status": _text,
    "quality_results": _json_object,
    "performance_score": _decimal,
    "error_message": _text,
    "user_rating": _integer,
    "cost_usd": _decimal,
    "metadata": _json_object,
}
"""How each CSV column's text becomes a value; an empty cell is a missing value."""
CSV_REQUIRED: Final = ("execution_id", "pattern_id", "started_at", "duration_ms", "status")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (use null)")


def loads_json(text: str) -> Any:
    """``json.loads`` that refuses NaN/Infinity and names nesting too deep to parse."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg}, column {exc.colno})") from None
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels") from None


@dataclass
class ExecutionFile:
    """Rows that parsed, the line each came from, and what was wrong with the others."""

    name: str
    rows: Sequence[dict[str, Any]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)
    problems: ProblemLog = field(default_factory=ProblemLog)
    validated: bool = False
    """The rows are already records of the row contract (the JSONL fast path parsed and
    validated them in one pass); the ingestion node then runs only its own checks."""

    def locator(self) -> RowLocator:
        return RowLocator(self.name, self.lines)

    def add(self, line: int, row: dict[str, Any]) -> None:
        assert isinstance(self.rows, list)  # rows are added by the line-by-line readers only
        self.rows.append(row)
        self.lines.append(line)

    def problem(self, line: int, message: str, field_name: str | None = None) -> None:
        self.problems.add(line, f"{self.name}:{line}", field_name, message)


_OTHER_ENCODINGS: Final = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def _decode(data: bytes, out: ExecutionFile) -> str | None:
    """UTF-8 text without its BOM, or ``None`` with the first undecodable byte named."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8) :]
    else:
        for bom, encoding in _OTHER_ENCODINGS:
            if data.startswith(bom):
                out.problem(1, f"the file is {encoding}: convert it to UTF-8")
                return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        out.problem(
            data.count(b"\n", 0, exc.start) + 1,
            f"not UTF-8 (byte 0x{data[exc.start]:02x} at column {exc.start - line_start + 1}): "
            "the file must be UTF-8",
        )
        return None


_SLOW_PATH_MARKERS: Final = (b"\x00", b"NaN", b"Infinity")
"""Bytes the one-pass parser would take differently from :func:`loads_json` (NaN and Infinity
as numbers) or that need a line-exact message: a file holding any of them, even inside a
string, is read line by line. Each chunk is searched before it is parsed (in the thread that
parses it while earlier chunks are stored), not the whole file before anything is stored."""


def _holds_marker(text: bytes, marker: bytes) -> bool:
    """``marker in text``, first looking for its first byte alone: that search runs at memory
    speed, several times faster than the one for the whole marker, which a chunk without
    the byte skips (ids in lowercase hex, lowercase keys and statuses hold no ``N`` or ``I``;
    a chunk that has one is searched as before)."""
    return marker[:1] in text and marker in text


class OnePassUnavailable(Exception):
    """A chunk of a file read lazily in one pass did not parse as clean rows: read the file
    again line by line (``read_execution_file(path)``), which names the problems."""


PARSE_CHUNK_ROWS: Final = 5_000
"""Lines parsed and validated per pydantic-core call when a clean file is read lazily."""


class OnePassRecords(Sequence[dict[str, Any]]):
    """A clean JSONL file's rows, parsed and validated by pydantic-core a chunk of lines at a
    time, on first access. Ingestion validates chunk k+1 in a worker thread while PostgreSQL
    copies chunk k, so reading the file then overlaps with storing it. A chunk that does not
    parse cleanly raises :class:`OnePassUnavailable`."""

    def __init__(self, lines: list[bytes]) -> None:
        self._lines = lines
        self._chunks: dict[int, list[dict[str, Any]]] = {}

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Chunk by chunk (``Sequence``'s own iteration would look each row up by index)."""
        for number in range(-(-len(self) // PARSE_CHUNK_ROWS)):
            yield from self._chunk(number)

    def _chunk(self, number: int) -> list[dict[str, Any]]:
        chunk = self._chunks.get(number)
        if chunk is None:
            lines = self._lines[number * PARSE_CHUNK_ROWS : (number + 1) * PARSE_CHUNK_ROWS]
            # One copy of the lines: adding the brackets to the joined text copied it twice.
            lines[0] = b"[" + lines[0]
            lines[-1] += b"]"
            text = b",".join(lines)
            if any(_holds_marker(text, marker) for marker in _SLOW_PATH_MARKERS):
                raise OnePassUnavailable
            try:
                with collector_paused():
                    records = EXECUTION_RECORDS.validate_json(text)
            except ValidationError:
                raise OnePassUnavailable from None
            if len(records) != len(lines):  # a line held two objects: "{...},{...}"
                raise OnePassUnavailable
            chunk = self._chunks[number] = cast("list[dict[str, Any]]", records)
        return chunk

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            rows: list[dict[str, Any]] = []
            if start >= stop:
                return rows
            for number in range(start // PARSE_CHUNK_ROWS, (stop - 1) // PARSE_CHUNK_ROWS + 1):
                base = number * PARSE_CHUNK_ROWS
                rows += self._chunk(number)[max(start - base, 0) : stop - base]
            return rows
        if not -len(self) <= index < len(self):
            raise IndexError(index)
        number, offset = divmod(index % len(self), PARSE_CHUNK_ROWS)
        return self._chunk(number)[offset]


def _read_jsonl_fast(data: bytes, out: ExecutionFile, *, lazy: bool) -> bool:
    """A clean JSONL file read by pydantic-core, a chunk of lines per call (~3x faster than
    ``json.loads`` per line plus validation); ``lazy``: each chunk when first used. ``False``
    when anything is off: the line-by-line reader then finds and names the problems, so
    messages never depend on the path taken."""
    items = data.split(b"\n")
    if items and not items[-1]:  # the newline ending the last line
        items.pop()
    if all(items):  # no empty line: row i is line i + 1 (a line of spaces fails to parse)
        numbers = list(range(1, len(items) + 1))
    else:
        numbers = [number for number, line in enumerate(items, start=1) if line.strip()]
        items = [items[number - 1] for number in numbers]
    if not items or max(map(len, items)) > MAX_ROW_BYTES:
        return False
    rows: Sequence[dict[str, Any]] = OnePassRecords(items)
    if not lazy:
        try:
            rows = list(rows)
        except OnePassUnavailable:
            return False
    out.rows, out.lines, out.validated = rows, numbers, True
    return True


def _read_jsonl(text: str, out: ExecutionFile) -> None:
    for line_number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        if len(line) > MAX_ROW_BYTES // 4 and len(line.encode("utf-8", "replace")) > MAX_ROW_BYTES:
            out.problem(line_number, f"line longer than {MAX_ROW_BYTES} bytes")
            continue
        if "\x00" in line:
            out.problem(line_number, "contains a NUL byte")
            continue
        try:
            row = loads_json(line)
        except ValueError as exc:
            out.problem(line_number, str(exc))
            continue
        if not isinstance(row, dict):
            out.problem(line_number, "expected a JSON object")
            continue
        out.add(line_number, row)


@contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    """The csv module's cell limit is process-wide: raise it for this read only."""
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _csv_header(header: list[str], out: ExecutionFile) -> bool:
    unknown = [name for name in header if name not in CSV_SCHEMA]
    missing = [name for name in CSV_REQUIRED if name not in header]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if unknown:
        out.problem(
            1,
            f"unknown column(s) {', '.join(map(quote_value, unknown))}; known: "
            + ", ".join(CSV_SCHEMA),
        )
    if missing:
        out.problem(1, f"missing column(s) {', '.join(missing)}")
    if repeated:
        out.problem(1, f"repeated column(s) {', '.join(repeated)}")
    return not (unknown or missing or repeated)


def _csv_row(header: list[str], cells: list[str], line: int, out: ExecutionFile) -> None:
    if len(cells) != len(header):
        out.problem(line, f"{len(cells)} cells, the header has {len(header)} columns")
        return
    if sum(map(len, cells)) > MAX_ROW_BYTES:
        out.problem(line, f"record longer than {MAX_ROW_BYTES} bytes")
        return
    row: dict[str, Any] = {}
    valid = True
    for column, cell in zip(header, cells, strict=True):
        if cell == "":
            continue
        try:
            row[column] = CSV_SCHEMA[column](cell)
        except ValueError as exc:
            out.problem(line, str(exc), column)
            valid = False
    if valid:
        out.add(line, row)


def _read_csv(text: str, out: ExecutionFile) -> None:
    if "\x00" in text:
        for line_number, line in enumerate(text.split("\n"), start=1):
            if "\x00" in line:
                out.problem(line_number, "contains a NUL byte")
        return
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    with _csv_field_limit(MAX_ROW_BYTES):
        try:
            header = next(reader, None)
            if header is None or not _csv_header(header, out):
                return
            for cells in reader:
                if cells:
                    _csv_row(header, cells, reader.line_num, out)
        except csv.Error as exc:
            message = str(exc)
            if "field larger than field limit" in message:
                message = f"cell longer than {MAX_ROW_BYTES} bytes"
            out.problem(reader.line_num, f"not valid CSV ({message})")


def read_execution_file(path: Path, *, lazy: bool = False) -> ExecutionFile:
    """JSONL (``.jsonl``/``.ndjson``/``.json``) or CSV (``.csv``, a header row naming columns).

    ``lazy``: a clean-looking JSONL file is parsed as its rows are used (see
    :class:`OnePassRecords`); the caller reads it again without ``lazy`` when that raises
    :class:`OnePassUnavailable`."""
    suffix = path.suffix.lower()
    if suffix not in JSONL_SUFFIXES + CSV_SUFFIXES:
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT,
            f"cannot tell the format of {path.name}: use a .jsonl or .csv file",
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelOnexError(EnumErrorCode.NOT_FOUND, f"no such file: {path}") from None
    except IsADirectoryError:
        raise ModelOnexError(EnumErrorCode.INVALID_INPUT, f"{path} is a directory") from None
    except OSError as exc:
        raise ModelOnexError(
            EnumErrorCode.INVALID_INPUT, f"cannot read {path}: {exc.strerror}"
        ) from None
    out = ExecutionFile(path.name, problems=ProblemLog(path.name))
    if suffix in JSONL_SUFFIXES and _read_jsonl_fast(
        data.removeprefix(codecs.BOM_UTF8), out, lazy=lazy
    ):
        return out
    text = _decode(data, out)
    if text is not None:
        (_read_csv if suffix in CSV_SUFFIXES else _read_jsonl)(text, out)
    return out


__all__ = [
    "CSV_SCHEMA",
    "ExecutionFile",
    "OnePassRecords",
    "OnePassUnavailable",
    "loads_json",
    "read_execution_file",
]
