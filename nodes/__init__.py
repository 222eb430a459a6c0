"""ONEX nodes of the loop, grouped by kind, with the runtime and the service facade.

The public face: ``FeedbackLoopService`` (every job) and ``NodeFeedbackLoopOrchestrator`` (the
original entry point); the node classes for those who compose their own.
"""

from contracts.enum_routing import EnumRewardKind, EnumRoutingPolicy
from contracts.model_routing import (
    ModelBanditSettings,
    ModelLearningSettings,
    ModelRoutedExecution,
    ModelRoutingContext,
    ModelRoutingDecision,
    ModelRoutingFeedback,
    ModelRoutingStats,
    ModelRoutingTask,
    ModelVariantStats,
)
from nodes.compute.bandit_policies import (
    EpsilonGreedyBandit,
    LinTSDiagPolicy,
    ThompsonSamplingBandit,
    UCBBandit,
)
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.runtime.runtime import FeedbackLoopRuntime
from nodes.service.facade import FeedbackLoopService
from nodes.service.learning_engine import LearningEngine
from nodes.service.q_learning_router import QLearningRouter

__all__ = [
    "EnumRewardKind",
    "EnumRoutingPolicy",
    "EpsilonGreedyBandit",
    "FeedbackLoopRuntime",
    "FeedbackLoopService",
    "LearningEngine",
    "LinTSDiagPolicy",
    "ModelBanditSettings",
    "ModelLearningSettings",
    "ModelRoutedExecution",
    "ModelRoutingContext",
    "ModelRoutingDecision",
    "ModelRoutingFeedback",
    "ModelRoutingStats",
    "ModelRoutingTask",
    "ModelVariantStats",
    "NodeFeedbackLoopOrchestrator",
    "QLearningRouter",
    "ThompsonSamplingBandit",
    "UCBBandit",
]
