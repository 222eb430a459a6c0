"""Stages as data: a run is a tuple of ``Stage`` s folded over a frozen run state.

Each stage either says why it is skipped for this state, or runs and returns the next state
with a one-line note. Every stage is timed and reported (completed / skipped / failed with
the reason) in the order it ran; a failure marks the stages after it skipped and is re-raised
as ``PipelineFailed`` carrying the reports so far.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from contracts.enum_loop import EnumStageStatus
from contracts.model_stage_report import ModelStageReport
from nodes.runtime.runtime import Connection

S = TypeVar("S")
Reports = dict[str, ModelStageReport]


@dataclass(frozen=True)
class Stage(Generic[S]):
    """``skip(state)`` returns a reason to skip, or None; ``run(conn, state)`` returns the next
    state and a note for the report."""

    name: str
    run: Callable[[Connection, S], Awaitable[tuple[S, str]]]
    skip: Callable[[S], str | None] = lambda _state: None


class PipelineFailed(Exception):
    """A stage raised; ``reports`` holds every stage's report, the failed one included."""

    def __init__(self, stage: str, reports: Reports, cause: BaseException) -> None:
        super().__init__(f"stage {stage} failed: {cause}")
        self.stage = stage
        self.reports = reports
        self.cause = cause


async def run_pipeline(stages: Sequence[Stage[S]], conn: Connection, state: S) -> tuple[S, Reports]:
    reports: Reports = {}
    for position, stage in enumerate(stages):
        reason = stage.skip(state)
        if reason is not None:
            reports[stage.name] = ModelStageReport(status=EnumStageStatus.SKIPPED, reason=reason)
            continue
        started = time.perf_counter()
        try:
            state, note = await stage.run(conn, state)
        except Exception as exc:
            reports[stage.name] = ModelStageReport(
                status=EnumStageStatus.FAILED,
                reason=str(exc) or type(exc).__name__,
                duration_ms=(time.perf_counter() - started) * 1000,
            )
            for later in stages[position + 1 :]:
                reports[later.name] = ModelStageReport(
                    status=EnumStageStatus.SKIPPED, reason="an earlier stage failed"
                )
            raise PipelineFailed(stage.name, reports, exc) from exc
        reports[stage.name] = ModelStageReport(
            status=EnumStageStatus.COMPLETED,
            reason=note,
            duration_ms=(time.perf_counter() - started) * 1000,
        )
    return state, reports
