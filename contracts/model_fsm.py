"""A finite-state machine held as data: states, events, transitions and their guards.

Reducers read a definition instead of hard-coding ``if status == ...`` chains, so one engine
drives every lifecycle (improvements now, experiments later) and a lifecycle can be shown,
checked and tested as a table.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ModelFsmTransition(BaseModel):
    """``event`` moves ``source`` to ``target`` when every named guard holds."""

    model_config = _FROZEN

    source: str
    event: str
    target: str
    guards: tuple[str, ...] = Field(default=(), description="names of predicates that must hold")


class ModelFsmDefinition(BaseModel):
    model_config = _FROZEN

    name: str
    states: tuple[str, ...]
    initial: str
    terminal: tuple[str, ...] = ()
    transitions: tuple[ModelFsmTransition, ...]

    @model_validator(mode="after")
    def _consistent(self) -> ModelFsmDefinition:
        known = set(self.states)
        used = {self.initial, *self.terminal}
        for t in self.transitions:
            used |= {t.source, t.target}
            if t.source in self.terminal:
                raise ValueError(f"{self.name}: terminal state {t.source!r} has a transition")
        if not used <= known:
            raise ValueError(f"{self.name}: unknown states {sorted(used - known)}")
        pairs = [(t.source, t.event) for t in self.transitions]
        if len(set(pairs)) != len(pairs):
            raise ValueError(f"{self.name}: two transitions for one (state, event)")
        return self

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.event for t in self.transitions))

    def sources_of(self, event: str) -> tuple[str, ...]:
        return tuple(t.source for t in self.transitions if t.event == event)
