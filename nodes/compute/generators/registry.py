"""The plug-in interface: a generator is a callable from an analysis to proposals."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from contracts.model_pattern_feedback import ModelPatternFeedback
from contracts.model_pattern_improvement import ModelProposal


class ModelGeneratorContext(BaseModel):
    """What a generator sees: the version under improvement and its analysis."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pattern_id: str
    version_id: str
    config: dict[str, Any]
    feedback: ModelPatternFeedback

    def has_issue(self, kind: str) -> bool:
        return any(issue.kind == kind for issue in self.feedback.issues)


ImprovementGenerator = Callable[[ModelGeneratorContext], Sequence[ModelProposal]]


class GeneratorRegistry:
    """Named generators, run in registration order. Names are unique."""

    def __init__(self) -> None:
        self._generators: dict[str, ImprovementGenerator] = {}

    def register(self, name: str, generator: ImprovementGenerator) -> ImprovementGenerator:
        if not name or name in self._generators:
            raise ValueError(f"generator name must be unique and non-empty, got {name!r}")
        if not callable(generator):
            raise ValueError(f"generator {name!r} is not callable")
        self._generators[name] = generator
        return generator

    def names(self) -> list[str]:
        return list(self._generators)

    def __iter__(self) -> Iterator[tuple[str, ImprovementGenerator]]:
        return iter(list(self._generators.items()))

    def copy(self) -> GeneratorRegistry:
        clone = GeneratorRegistry()
        clone._generators = dict(self._generators)
        return clone
