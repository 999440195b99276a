"""The MQL gate, as a pure function of the lead's state, its score and the definitions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from baton_contracts.definitions import QualificationDefinitions
from baton_contracts.events import LeadState

QUALIFIABLE_STATES = frozenset({LeadState.KNOWN, LeadState.RECYCLED})


@dataclass(frozen=True)
class Qualification:
    """Why a lead qualifies: the rule that fired and the values it saw."""

    rule: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


def qualify(*, state: LeadState, score: float, rules: QualificationDefinitions) -> Qualification | None:
    """The qualification when the lead becomes an MQL now, else None (already past, or below the bar)."""
    if state not in QUALIFIABLE_STATES or score < rules.mql_threshold:
        return None
    return Qualification(
        rule="score_threshold",
        reason=f"score {score:g} reached the MQL threshold {rules.mql_threshold:g}",
        details={"score": score, "threshold": rules.mql_threshold},
    )
