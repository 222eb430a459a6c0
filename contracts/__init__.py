"""Typed, strict contracts of every node's input and output (original API names kept)."""

from contracts.enum_error_code import EnumErrorCode
from contracts.enum_execution_status import EnumExecutionStatus
from contracts.enum_lineage_relation import EnumLineageRelation
from contracts.enum_loop import (
    EnumDecision,
    EnumFeedbackType,
    EnumImprovementStatus,
    EnumImprovementType,
    EnumMetric,
    EnumRiskLevel,
    EnumStageStatus,
    EnumWorkflowStage,
)
from contracts.enum_version_status import EnumVersionStatus
from contracts.model_execution_record import ModelExecutionRecord
from contracts.model_feedback_loop_input import ModelFeedbackLoopInput
from contracts.model_feedback_loop_output import ModelFeedbackLoopOutput
from contracts.model_onex_error import ModelOnexError
from contracts.model_pattern_feedback import ModelArmStats, ModelPatternFeedback
from contracts.model_pattern_improvement import ModelPatternImprovement, ModelProposal
from contracts.model_pattern_version import ModelPatternVersion
from contracts.model_result import ModelResult
from contracts.model_reward import (
    DEFAULT_REWARD_CONFIG,
    EnumRewardAssessment,
    ModelRewardBounds,
    ModelRewardConfig,
    ModelRewardExecution,
    ModelRewardParts,
    ModelRewardThresholds,
    ModelRewardWeights,
)
from contracts.model_stage_report import ModelStageReport

__all__ = [
    "DEFAULT_REWARD_CONFIG",
    "EnumDecision",
    "EnumErrorCode",
    "EnumExecutionStatus",
    "EnumFeedbackType",
    "EnumImprovementStatus",
    "EnumImprovementType",
    "EnumLineageRelation",
    "EnumMetric",
    "EnumRewardAssessment",
    "EnumRiskLevel",
    "EnumStageStatus",
    "EnumVersionStatus",
    "EnumWorkflowStage",
    "ModelArmStats",
    "ModelExecutionRecord",
    "ModelFeedbackLoopInput",
    "ModelFeedbackLoopOutput",
    "ModelOnexError",
    "ModelPatternFeedback",
    "ModelPatternImprovement",
    "ModelPatternVersion",
    "ModelProposal",
    "ModelResult",
    "ModelRewardBounds",
    "ModelRewardConfig",
    "ModelRewardExecution",
    "ModelRewardParts",
    "ModelRewardThresholds",
    "ModelRewardWeights",
    "ModelStageReport",
]
