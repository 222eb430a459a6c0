"""The one engine for every lifecycle held as a ``ModelFsmDefinition``. Pure."""

from __future__ import annotations

from collections.abc import Mapping

from contracts.enum_error_code import EnumErrorCode
from contracts.model_fsm import ModelFsmDefinition, ModelFsmTransition
from contracts.model_onex_error import ModelOnexError


def fire(
    definition: ModelFsmDefinition,
    state: str,
    event: str,
    *,
    guards: Mapping[str, bool],
    subject: str,
) -> ModelFsmTransition:
    """The transition ``event`` takes from ``state``; a CONFLICT naming ``subject`` when there is
    none or one of its guards does not hold (``guards``: name -> whether it holds now)."""
    for transition in definition.transitions:
        if transition.source == state and transition.event == event:
            failed = [g for g in transition.guards if not guards.get(g, False)]
            if failed:
                raise ModelOnexError(
                    EnumErrorCode.CONFLICT,
                    f"{subject}: cannot {event}: {', '.join(failed)} does not hold",
                )
            return transition
    allowed = definition.sources_of(event)
    raise ModelOnexError(
        EnumErrorCode.CONFLICT,
        f"{subject} is {state}; {event} needs " + (" or ".join(allowed) or "no state: unknown"),
        details={"state": state, "event": event, "allowed_from": list(allowed)},
    )
