"""ONEX nodes of the loop: the orchestrator, effect nodes (all I/O), compute nodes (pure)."""

from nodes.compute.node_feedback_analyzer_compute import NodeFeedbackAnalyzerCompute
from nodes.compute.node_improvement_generator_compute import NodeImprovementGeneratorCompute
from nodes.compute.node_improvement_validator_compute import NodeImprovementValidatorCompute
from nodes.effect.node_execution_ingest_effect import NodeExecutionIngestEffect
from nodes.effect.node_pattern_registry_effect import NodePatternRegistryEffect
from nodes.effect.node_traffic_allocator_effect import NodeTrafficAllocatorEffect
from nodes.orchestrator.node_feedback_loop_orchestrator import NodeFeedbackLoopOrchestrator

__all__ = [
    "NodeExecutionIngestEffect",
    "NodeFeedbackAnalyzerCompute",
    "NodeFeedbackLoopOrchestrator",
    "NodeImprovementGeneratorCompute",
    "NodeImprovementValidatorCompute",
    "NodePatternRegistryEffect",
    "NodeTrafficAllocatorEffect",
]
