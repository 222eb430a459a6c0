"""The queue worker: due loop runs from pgqueuer, run through the service facade."""

from nodes.adapters.worker.worker import LoopWorker, WorkerSettings, with_liveness_checks

__all__ = ["LoopWorker", "WorkerSettings", "with_liveness_checks"]
