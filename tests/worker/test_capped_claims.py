"""The worker's queue consumer asks the queue only while it has a free slot: at its cap a
claim would find nothing, and pgqueuer's consumer otherwise asks again (and counts the queued
jobs) on every change to the queue anywhere."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import anyio
import asyncpg
import pytest
from pgqueuer.adapters.persistence.queries import Queries
from pgqueuer.core.qm import QueueManager
from pgqueuer.domain.models import Context, Job

from nodes.adapters.worker import CLAIM_BATCH, CappedQueueManager

HEARTBEAT = timedelta(seconds=10)
POLL = timedelta(seconds=0.05)


def _counting(queries: Queries, name: str, calls: list[str]) -> None:
    """Count the calls of one of the queue's real queries (it still runs)."""
    real: Callable[..., Any] = getattr(queries, name)

    async def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return await real(*args, **kwargs)

    setattr(queries, name, counted)


@pytest.fixture
async def manager(pool: asyncpg.Pool) -> AsyncIterator[tuple[CappedQueueManager, list[str]]]:
    async with pool.acquire() as conn:
        queries = Queries.from_asyncpg_connection(conn)
        await queries.enqueue(["job"] * 3, [None] * 3, [0] * 3)
        calls: list[str] = []
        for name in ("dequeue", "eligible_queued_work", "next_deferred_eta", "queued_work"):
            _counting(queries, name, calls)
        capped = CappedQueueManager(queries)
        capped.cap = 2

        @capped.entrypoint("job")
        async def job(job: Job) -> None:
            return None

        yield capped, calls


def _occupy(manager: CappedQueueManager, job: Job) -> None:
    """What the consumer does with a claimed job: its context marks the slot taken."""
    manager.job_context[job.id] = Context(cancellation=anyio.CancelScope(), resources={})


async def _claim(manager: CappedQueueManager) -> list[Job]:
    claimed = []
    async for job in manager.fetch_jobs(CLAIM_BATCH, None, HEARTBEAT):
        claimed.append(job)
        _occupy(manager, job)
    return claimed


async def test_it_claims_up_to_its_cap_then_stops_asking(
    manager: tuple[CappedQueueManager, list[str]],
) -> None:
    capped, calls = manager
    claimed = await _claim(capped)
    assert len(claimed) == 2 and calls == ["dequeue", "dequeue"]  # none after the second
    calls.clear()
    assert await _claim(capped) == [] and calls == []  # at the cap: no query at all
    assert await capped._effective_dequeue_timeout(POLL * 20) == POLL * 20 and calls == []
    # A job ends as the consumer ends it: logged (which removes it from the queue), its slot
    # freed.
    await capped.queries.log_jobs([(claimed[0], "successful", None)])
    del capped.job_context[claimed[0].id]
    (third,) = await _claim(capped)
    assert third.id not in {j.id for j in claimed} and calls == ["dequeue"]


async def test_below_its_cap_it_polls_soon_while_jobs_wait(
    manager: tuple[CappedQueueManager, list[str]],
) -> None:
    """pgqueuer's own rule applies with a free slot: a queued job makes it poll again soon."""
    capped, calls = manager
    capped.min_dequeue_poll_interval = POLL
    assert await capped._effective_dequeue_timeout(POLL * 20) == POLL
    assert calls == ["eligible_queued_work"]


def test_pgqueuers_consumer_still_asks_through_the_overridden_methods() -> None:
    """The consumer overrides one public and one internal pgqueuer method; an upgrade that
    stopped calling either would silently bring the idle queries back."""
    source = inspect.getsource(QueueManager.run)
    assert "self.fetch_jobs(" in source and "self._effective_dequeue_timeout(" in source
