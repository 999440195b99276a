"""Sales acceptance of MQLs: pure functions over sales' decisions (no I/O).

The loop the landscape says nobody closes: which grades, qualification rules, segments and
definitions versions produce leads that sales accepts, and why the rest are rejected.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

MIN_DECIDED = 30
"""Fewer decided leads than this in a group and its rate says little (the practitioners' minimum)."""
HEALTHY = 0.8
MISALIGNED = 0.7


class GroupBy(StrEnum):
    FIT_GRADE = "fit_grade"
    GRADE = "grade"
    RULE = "rule"
    SEGMENT = "segment"
    DEFINITIONS_VERSION = "definitions_version"
    REP = "rep"


class Verdict(StrEnum):
    TOO_FEW = "too_few"
    HEALTHY = "healthy"
    WATCH = "watch"
    MISALIGNED = "misaligned"


@dataclass(frozen=True)
class Qualified:
    """An MQL transition: when, and what the lead looked like to the rules that qualified it."""

    at: datetime
    details: dict[str, Any]
    definitions_version: str


@dataclass(frozen=True)
class Decided:
    """Sales' decision on one handed-off lead, with the MQL that handed it off."""

    accepted: bool
    rejection_reason: str | None
    rep_id: str | None
    segment: str | None
    qualified: Qualified | None


@dataclass(frozen=True)
class AcceptanceRow:
    group: str
    decided: int
    accepted: int
    rejected: int
    acceptance_rate: float
    verdict: Verdict
    rejection_reasons: dict[str, int]


def qualified_before(mqls: Sequence[Qualified], at: datetime) -> Qualified | None:
    """The MQL a decision at `at` answers: the lead's latest one at or before it (a recycled lead
    qualifies again, perhaps under other definitions)."""
    earlier = [mql for mql in mqls if mql.at <= at]
    return max(earlier, key=lambda mql: mql.at) if earlier else None


def group_of(decision: Decided, by: GroupBy) -> str:
    qualified = decision.qualified
    details = qualified.details if qualified else {}
    if by == GroupBy.GRADE:
        grade, band = details.get("fit_grade"), details.get("engagement_band")
        key = f"{grade}{band}" if grade and band is not None else None
    else:
        key = {
            GroupBy.FIT_GRADE: details.get("fit_grade"),
            GroupBy.RULE: details.get("rule"),
            GroupBy.SEGMENT: decision.segment,
            GroupBy.DEFINITIONS_VERSION: qualified.definitions_version if qualified else None,
            GroupBy.REP: decision.rep_id,
        }[by]
    return str(key) if key is not None else "(none)"


def verdict(accepted: int, decided: int) -> Verdict:
    if decided < MIN_DECIDED:
        return Verdict.TOO_FEW
    rate = accepted / decided
    return Verdict.HEALTHY if rate >= HEALTHY else Verdict.WATCH if rate >= MISALIGNED else Verdict.MISALIGNED


def acceptance_row(group: str, decisions: Sequence[Decided]) -> AcceptanceRow:
    accepted = sum(1 for d in decisions if d.accepted)
    reasons = Counter(d.rejection_reason or "(none)" for d in decisions if not d.accepted)
    return AcceptanceRow(
        group=group,
        decided=len(decisions),
        accepted=accepted,
        rejected=len(decisions) - accepted,
        acceptance_rate=accepted / len(decisions),
        verdict=verdict(accepted, len(decisions)),
        rejection_reasons=dict(reasons.most_common()),
    )


def acceptance(decisions: Iterable[Decided], *, by: GroupBy) -> list[AcceptanceRow]:
    """Per group, accepted / decided and the rejection reasons, most frequent first; groups sorted."""
    groups: dict[str, list[Decided]] = {}
    for decision in decisions:
        groups.setdefault(group_of(decision, by), []).append(decision)
    return [acceptance_row(group, groups[group]) for group in sorted(groups)]
