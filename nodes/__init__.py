"""ONEX nodes of the loop, grouped by kind, with the runtime and the service facade.

The public face: ``FeedbackLoopService`` (every job) and ``NodeFeedbackLoopOrchestrator`` (the
original entry point); the node classes for those who compose their own.
"""

from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.runtime.runtime import FeedbackLoopRuntime
from nodes.service.facade import FeedbackLoopService

__all__ = ["FeedbackLoopRuntime", "FeedbackLoopService", "NodeFeedbackLoopOrchestrator"]
