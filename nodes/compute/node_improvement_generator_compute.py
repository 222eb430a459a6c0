"""Generate: runs the registered generators over the active version's analysis. Pure."""

from __future__ import annotations

from contracts.enum_loop import EnumFeedbackType, EnumImprovementType, EnumRiskLevel
from contracts.model_analysis import ModelGenerateInput, ModelGenerateOutput
from contracts.model_pattern_improvement import ModelProposal
from nodes.compute.generators.builtin import default_registry
from nodes.compute.generators.registry import GeneratorRegistry, ModelGeneratorContext

TYPES_OF_FEEDBACK: dict[EnumFeedbackType, frozenset[EnumImprovementType]] = {
    # A slow pattern and a failing one hurt the same users: performance covers both.
    EnumFeedbackType.PERFORMANCE: frozenset(
        {EnumImprovementType.PERFORMANCE, EnumImprovementType.RELIABILITY}
    ),
    EnumFeedbackType.QUALITY: frozenset({EnumImprovementType.QUALITY}),
    EnumFeedbackType.USAGE: frozenset({EnumImprovementType.RELIABILITY, EnumImprovementType.USAGE}),
    EnumFeedbackType.ALL: frozenset(EnumImprovementType),
}
_RISK_ORDER = {EnumRiskLevel.LOW: 0, EnumRiskLevel.MEDIUM: 1, EnumRiskLevel.HIGH: 2}


class NodeImprovementGeneratorCompute:
    """Keeps proposals of the run's feedback type that change the config into one never tried;
    lowest risk, then largest expected gain, first. Every proposal not kept is listed with why
    (``set_aside``), never dropped silently. A failing plug-in is reported, not fatal."""

    def __init__(self, registry: GeneratorRegistry | None = None) -> None:
        self.registry = registry or default_registry()

    def generate(self, contract: ModelGenerateInput) -> ModelGenerateOutput:
        context = ModelGeneratorContext(
            pattern_id=contract.pattern_id,
            version_id=contract.base_version_id,
            config=contract.base_config,
            feedback=contract.feedback,
        )
        made: list[ModelProposal] = []
        errors: list[str] = []
        for name, generator in self.registry:
            try:
                proposals = list(generator(context))
            except Exception as exc:  # a plug-in's bug must not stop the loop
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
                continue
            bad = [p for p in proposals if not isinstance(p, ModelProposal)]
            if bad:
                errors.append(f"{name}: returned {type(bad[0]).__name__}, not ModelProposal")
                continue
            made.extend(proposals)
        wanted = TYPES_OF_FEEDBACK[contract.feedback_type]
        seen = [contract.base_config, *contract.known_configs]
        kept: list[ModelProposal] = []
        set_aside: list[str] = []
        for proposal in sorted(made, key=lambda p: (_RISK_ORDER[p.risk], -p.expected_delta)):
            config = proposal.apply_to(contract.base_config)
            if proposal.improvement_type not in wanted:
                why = f"a {proposal.improvement_type.value} change, not {contract.feedback_type}"
            elif config in seen:
                why = "its config was tried before"
            elif len(kept) >= contract.slots:
                why = "no free testing slot"
            else:
                kept.append(proposal)
                seen.append(config)
                continue
            set_aside.append(f"{proposal.description} ({why})")
        return ModelGenerateOutput(
            proposals=kept,
            considered=len(made),
            set_aside=set_aside,
            generator_errors=errors,
        )
