"""``feedback-loop ingest FILE``: bulk-load executions from JSONL or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from contracts.model_execution_record import (
    MAX_CLOCK_SKEW,
    MAX_ERROR_MESSAGE_CHARS,
    MAX_ID_CHARS,
    MAX_JSON_BYTES,
    MAX_JSON_DEPTH,
    MAX_ROW_BYTES,
)
from nodes.adapters.cli.context import CliContext
from nodes.effect.ingest_problems import MAX_PROBLEMS_SHOWN

_DESCRIPTION = f"""\
Validate every row, then store the file in one COPY. A file with any invalid row stores
nothing; the error lists the problems as FILE:LINE: field: message (the first
{MAX_PROBLEMS_SHOWN}, then how many more).

Files are UTF-8 (a BOM is accepted). JSONL: one JSON object per line; numbers must be JSON
numbers (no "12.5" strings, no true/false ratings, no NaN/Infinity). CSV: a header row naming
the columns; numeric columns must hold plain numbers (user_rating an integer), quality_results
and metadata a JSON object, an empty cell is a missing value.

Each row's pattern must be registered (feedback-loop register) and its version_id, when given,
must be a registered version of that pattern; rows without version_id count toward the active
version.

Limits: pattern_id, version_id, variant up to {MAX_ID_CHARS} characters; error_message up to
{MAX_ERROR_MESSAGE_CHARS:,}; metadata and quality_results up to {MAX_JSON_BYTES:,} bytes as JSON
and {MAX_JSON_DEPTH} levels deep; a line or CSV record up to {MAX_ROW_BYTES:,} bytes;
started_at from 1970-01-01 to now + {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes, with a
time zone.
"""


def register(commands: Any) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="load executions from a JSONL or CSV file (all rows or none)",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ingest.add_argument("file", type=Path, help="a .jsonl or .csv file of executions")
    ingest.add_argument(
        "--skip-duplicates",
        action="store_true",
        help="store only rows whose execution_id is new (default: reject the file)",
    )
    ingest.add_argument(
        "--allow-empty",
        action="store_true",
        help="a file with no rows (empty, whitespace only, header only) is fine (default: error, "
        "so a truncated export is noticed)",
    )
    ingest.add_argument(
        "--allow-unregistered",
        action="store_true",
        help="store rows of unregistered patterns or versions too (default: reject the file; "
        "the loop never reads such rows until the pattern is registered)",
    )
    ingest.set_defaults(handler=_ingest)


async def _ingest(args: argparse.Namespace, ctx: CliContext) -> int:
    result = await ctx.service().ingest_file(
        args.file,
        on_duplicate="skip" if args.skip_duplicates else "error",
        allow_unregistered=args.allow_unregistered,
        allow_empty=args.allow_empty,
    )
    print(
        f"ingested {result.inserted} of {result.received} rows from {args.file.name}"
        + (f" ({result.skipped_duplicates} already stored)" if result.skipped_duplicates else "")
    )
    return 0
