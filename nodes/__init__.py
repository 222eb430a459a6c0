"""ONEX nodes of the loop: the orchestrator, effect nodes (all I/O), compute nodes (pure)."""

from nodes.node_execution_ingest_effect import NodeExecutionIngestEffect
from nodes.node_feedback_analyzer_compute import NodeFeedbackAnalyzerCompute
from nodes.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator
from nodes.node_improvement_generator_compute import NodeImprovementGeneratorCompute
from nodes.node_improvement_validator_compute import NodeImprovementValidatorCompute
from nodes.node_pattern_registry_effect import NodePatternRegistryEffect
from nodes.node_traffic_allocator_effect import NodeTrafficAllocatorEffect

__all__ = [
    "NodeExecutionIngestEffect",
    "NodeFeedbackAnalyzerCompute",
    "NodeFeedbackLoopOrchestrator",
    "NodeImprovementGeneratorCompute",
    "NodeImprovementValidatorCompute",
    "NodePatternRegistryEffect",
    "NodeTrafficAllocatorEffect",
]
