"""The queue worker: due loop runs from pgqueuer, run through the service facade."""

from nodes.adapters.worker.worker import (
    CLAIM_BATCH,
    CappedQueueManager,
    LoopWorker,
    WorkerSettings,
    with_liveness_checks,
)

__all__ = [
    "CLAIM_BATCH",
    "CappedQueueManager",
    "LoopWorker",
    "WorkerSettings",
    "with_liveness_checks",
]
