"""Input errors of the statistics engine.

One exception type so callers (the analyzer node, the validator) can turn bad summary stats
into a rejected comparison instead of a NaN p-value that silently reads as "no effect".
"""

from __future__ import annotations


class StatsInputError(ValueError):
    """Invalid input to a statistical routine; ``argument`` names the offending parameter."""

    def __init__(self, argument: str, problem: str) -> None:
        self.argument = argument
        self.problem = problem
        super().__init__(f"{argument}: {problem}")
