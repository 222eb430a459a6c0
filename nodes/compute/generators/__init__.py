"""Improvement generators: the plug-in interface and the built-in generic ones."""

from nodes.compute.generators.builtin import BUILTIN_GENERATORS, default_registry
from nodes.compute.generators.registry import (
    GeneratorRegistry,
    ImprovementGenerator,
    ModelGeneratorContext,
)

__all__ = [
    "BUILTIN_GENERATORS",
    "GeneratorRegistry",
    "ImprovementGenerator",
    "ModelGeneratorContext",
    "default_registry",
]
