"""The composition root: the pool, the migration policy and every long-lived node instance."""

from nodes.runtime.runtime import FeedbackLoopRuntime

__all__ = ["FeedbackLoopRuntime"]
