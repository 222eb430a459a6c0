"""``feedback-loop ingest FILE``: bulk-load executions from JSONL or CSV."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nodes.adapters.cli.context import CliContext


def register(commands: Any) -> None:
    ingest = commands.add_parser(
        "ingest",
        help="load executions from a JSONL or CSV file (all rows or none)",
        description="Validate every row, then store the file in one COPY. A file with any "
        "invalid row stores nothing; the error names the line and the field.",
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
    ingest.set_defaults(handler=_ingest)


async def _ingest(args: argparse.Namespace, ctx: CliContext) -> int:
    result = await ctx.service().ingest_file(
        args.file,
        on_duplicate="skip" if args.skip_duplicates else "error",
        allow_empty=args.allow_empty,
    )
    print(
        f"ingested {result.inserted} of {result.received} rows from {args.file.name}"
        + (f" ({result.skipped_duplicates} already stored)" if result.skipped_duplicates else "")
    )
    return 0
