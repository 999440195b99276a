"""The MQL gate: a pure function of what scoring said, the lead's state and the definitions.

`qualify` returns a `Qualification` whatever happens (also "not yet"), so every decision can be
recorded with the rule that decided it and the values it saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from baton_contracts.definitions import QualificationDefinitions
from baton_contracts.events import LeadScored, LeadState

QUALIFIABLE_STATES = frozenset({LeadState.KNOWN, LeadState.RECYCLED})
DISQUALIFIABLE_STATES = frozenset(
    {LeadState.KNOWN, LeadState.MQL, LeadState.ASSIGNED, LeadState.REJECTED, LeadState.RECYCLED}
)


class Outcome(StrEnum):
    MQL = "mql"
    DISQUALIFY = "disqualify"
    HOLD = "hold"  # would qualify, but a required field is missing: wait for enrichment
    NOT_YET = "not_yet"  # below a bar, or cooling down
    NOT_APPLICABLE = "not_applicable"  # the lead is past the gate


@dataclass(frozen=True)
class Qualification:
    """A decision and why: the rule that decided and the values it saw."""

    outcome: Outcome
    rule: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)
    intent: str = "standard"  # "high" for a fast-tracked MQL


def qualify(
    *,
    state: LeadState,
    scored: LeadScored,
    rules: QualificationDefinitions,
    now: datetime,
    requalify_after: datetime | None = None,
) -> Qualification:
    disqualifiers = [d for d in scored.disqualifiers if d not in rules.ignore_disqualifiers]
    if disqualifiers and state in DISQUALIFIABLE_STATES:
        return Qualification(
            Outcome.DISQUALIFY,
            "disqualifier",
            f"negative indicator: {', '.join(disqualifiers)}",
            {"disqualifiers": disqualifiers},
        )
    if state not in QUALIFIABLE_STATES:
        return Qualification(Outcome.NOT_APPLICABLE, "state", f"lead is {state.value}", {"state": state.value})
    if state == LeadState.RECYCLED and requalify_after is not None and now < requalify_after:
        return Qualification(
            Outcome.NOT_YET,
            "recycle_cooldown",
            f"recycled; cannot qualify again before {requalify_after.isoformat()}",
            {"requalify_after": requalify_after.isoformat()},
        )
    decision = _gate(scored, rules)
    if decision.outcome != Outcome.MQL:
        return decision
    if scored.profile is not None:
        missing = [name for name in rules.required_fields if _blank(getattr(scored.profile, name))]
        if missing:
            return Qualification(
                Outcome.HOLD,
                "required_fields",
                f"qualifies by {decision.rule} but is missing {', '.join(missing)}: held until enriched",
                {**decision.details, "missing": missing, "qualifying_rule": decision.rule},
                decision.intent,
            )
    return decision


def _gate(scored: LeadScored, rules: QualificationDefinitions) -> Qualification:
    if scored.fit_grade is None:
        values: dict[str, Any] = {"score": scored.score, "threshold": rules.mql_threshold, "fit_grade": None}
        if scored.score >= rules.mql_threshold:
            reason = f"ungraded: score {scored.score:g} reached the MQL threshold {rules.mql_threshold:g}"
            return Qualification(Outcome.MQL, "score_threshold", reason, values)
        reason = f"ungraded: score {scored.score:g} below the MQL threshold {rules.mql_threshold:g}"
        return Qualification(Outcome.NOT_YET, "score_threshold", reason, values)
    grade, band = scored.fit_grade, scored.engagement_band
    values = {"fit_grade": grade, "engagement_band": band}
    bar = rules.matrix.get(grade)
    if bar is None:
        passing = sorted(rules.matrix)
        return Qualification(
            Outcome.NOT_YET, "fit_bar", f"fit grade {grade} is below the fit bar ({'/'.join(passing)})", values
        )
    values["min_engagement_band"] = bar
    if band is not None and band >= bar:
        return Qualification(
            Outcome.MQL, "matrix", f"fit {grade} with engagement band {band} meets the bar (band ≥ {bar})", values
        )
    signals = [s for s in scored.high_intent if s in rules.fast_track.signals]
    if signals:
        return Qualification(
            Outcome.MQL,
            "fast_track",
            f"high intent ({', '.join(signals)}) with fit {grade}: engagement bar skipped",
            {**values, "signals": signals},
            intent="high",
        )
    committee = rules.buying_committee
    engaged = scored.account.engaged_stakeholders if scored.account is not None else 0
    if committee is not None and engaged >= committee.min_engaged_stakeholders:
        return Qualification(
            Outcome.MQL,
            "buying_committee",
            f"{engaged} engaged stakeholders at {scored.account.account_key if scored.account else '?'} "
            f"(≥ {committee.min_engaged_stakeholders}) with fit {grade}",
            {
                **values,
                "engaged_stakeholders": engaged,
                "account": scored.account.account_key if scored.account else None,
            },
        )
    return Qualification(Outcome.NOT_YET, "matrix", f"fit {grade} but engagement band {band} is below {bar}", values)


def _blank(value: Any) -> bool:
    """No value, or one with nothing in it (an empty list, a string of spaces)."""
    return value is None or (isinstance(value, str) and not value.strip()) or value == []
