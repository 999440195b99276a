"""Sales acceptance and conversion of MQLs: pure functions over the lifecycle (no I/O).

The loop the landscape says nobody closes: which grades, qualification rules, segments and
definitions versions produce leads that sales accepts (and why the rest are rejected), and which
go on to pipeline and revenue (calibration: does a better grade convert better?).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from itertools import pairwise
from statistics import NormalDist
from typing import Any, Protocol, TypeVar

NONE = "(none)"
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
    ENGAGEMENT_BAND = "engagement_band"


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


class Handed(Protocol):
    """A handed-off lead as the reports group it: how it qualified, its segment, its rep."""

    @property
    def qualified(self) -> Qualified | None: ...
    @property
    def segment(self) -> str | None: ...
    @property
    def rep_id(self) -> str | None: ...


H = TypeVar("H", bound=Handed)


def group_of(handed: Handed, by: GroupBy) -> str:
    qualified = handed.qualified
    details = qualified.details if qualified else {}
    if by == GroupBy.GRADE:
        grade, band = details.get("fit_grade"), details.get("engagement_band")
        key = f"{grade}{band}" if grade and band is not None else None
    else:
        key = {
            GroupBy.FIT_GRADE: details.get("fit_grade"),
            GroupBy.ENGAGEMENT_BAND: details.get("engagement_band"),
            GroupBy.RULE: details.get("rule"),
            GroupBy.SEGMENT: handed.segment,
            GroupBy.DEFINITIONS_VERSION: qualified.definitions_version if qualified else None,
            GroupBy.REP: handed.rep_id,
        }[by]
    return str(key) if key is not None else NONE


def grouped(items: Iterable[H], by: GroupBy) -> dict[str, list[H]]:
    """`items` per group, groups sorted."""
    groups: dict[str, list[H]] = {}
    for item in items:
        groups.setdefault(group_of(item, by), []).append(item)
    return {group: groups[group] for group in sorted(groups)}


def verdict(accepted: int, decided: int) -> Verdict:
    if decided < MIN_DECIDED:
        return Verdict.TOO_FEW
    rate = accepted / decided
    return Verdict.HEALTHY if rate >= HEALTHY else Verdict.WATCH if rate >= MISALIGNED else Verdict.MISALIGNED


def acceptance_row(group: str, decisions: Sequence[Decided]) -> AcceptanceRow:
    accepted = sum(1 for d in decisions if d.accepted)
    reasons = Counter(d.rejection_reason or NONE for d in decisions if not d.accepted)
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
    return [acceptance_row(group, members) for group, members in grouped(decisions, by).items()]


# --- conversion: where the MQLs of a period went, and whether better grades convert better ---

MIN_COHORT = 30
"""Fewer MQLs than this in a group and calibration does not compare it (as `MIN_DECIDED`)."""
SIGNIFICANCE = 0.05
"""An inversion is reported only when chance explains it less often than this (one-sided)."""
RANKED: dict[GroupBy, tuple[str, ...]] = {
    GroupBy.FIT_GRADE: ("A", "B", "C", "D"),
    GroupBy.ENGAGEMENT_BAND: ("4", "3", "2", "1"),
}
"""The groupings the definitions rank, best first: the ones calibration can check."""


@dataclass(frozen=True)
class Step:
    """A lifecycle transition after an MQL, in the order the lead made it."""

    to_state: str
    rep_id: str | None = None
    amount: float | None = None  # what the CRM reported with a won deal


@dataclass(frozen=True)
class Converted:
    """One MQL of the cohort and every state its lead entered before it qualified again."""

    qualified: Qualified
    segment: str | None
    rep_id: str | None  # the rep who held it last
    reached: frozenset[str]
    won_amount: float


def converted(qualified: Qualified, segment: str | None, steps: Sequence[Step]) -> Converted:
    """Follow `steps` (the lead's transitions after this MQL, in order) up to its next MQL."""
    reached: set[str] = set()
    rep_id: str | None = None
    won_amount = 0.0
    for step in steps:
        if step.to_state == "mql":
            break  # recycled and qualified again: what follows answers that MQL
        reached.add(step.to_state)
        rep_id = step.rep_id or rep_id
        if step.to_state == "won":
            won_amount += step.amount or 0.0
    return Converted(qualified, segment, rep_id, frozenset(reached), won_amount)


@dataclass(frozen=True)
class ConversionRow:
    group: str
    mqls: int
    sal: int
    sql: int
    opportunity: int
    won: int
    lost: int
    rejected: int
    disqualified: int
    sal_rate: float
    sql_rate: float
    opportunity_rate: float
    win_rate: float | None  # won / closed; None while nothing closed
    won_amount: float
    lift: float | None  # opportunity_rate against the whole cohort's; None when the cohort has none


def conversion_row(group: str, cohort: Sequence[Converted], *, overall_rate: float | None = None) -> ConversionRow:
    """How many of `cohort` reached each stage (a stage counts every lead that passed it)."""
    count = Counter(state for mql in cohort for state in mql.reached)
    mqls = len(cohort)
    won, lost = count["won"], count["lost"]
    opportunity = count["opportunity"]
    return ConversionRow(
        group=group,
        mqls=mqls,
        sal=count["sal"],
        sql=count["sql"],
        opportunity=opportunity,
        won=won,
        lost=lost,
        rejected=count["rejected"],
        disqualified=count["disqualified"],
        sal_rate=count["sal"] / mqls,
        sql_rate=count["sql"] / mqls,
        opportunity_rate=opportunity / mqls,
        win_rate=won / (won + lost) if won + lost else None,
        won_amount=round(sum(mql.won_amount for mql in cohort), 2),
        lift=opportunity / mqls / overall_rate if overall_rate else None,
    )


def conversion(cohort: Sequence[Converted], *, by: GroupBy) -> list[ConversionRow]:
    """Per group, the funnel from MQL to won; groups sorted."""
    overall = sum(1 for mql in cohort if "opportunity" in mql.reached) / len(cohort) if cohort else None
    return [conversion_row(group, members, overall_rate=overall) for group, members in grouped(cohort, by).items()]


class CalibrationVerdict(StrEnum):
    TOO_FEW = "too_few"
    CALIBRATED = "calibrated"
    INVERTED = "inverted"


@dataclass(frozen=True)
class Inversion:
    """A group the definitions rank lower that turns MQLs into opportunities more often, beyond chance."""

    better: str  # ranked higher by the definitions
    worse: str
    better_rate: float
    worse_rate: float
    p_value: float


@dataclass(frozen=True)
class Calibration:
    metric: str
    compared: list[str]
    inversions: list[Inversion]
    verdict: CalibrationVerdict


def calibration(rows: Sequence[ConversionRow], *, by: GroupBy) -> Calibration | None:
    """Whether each ranked group (fit grade, engagement band) with enough MQLs turns them into
    opportunities at least as often as the next one down. None for a grouping the definitions do not rank.

    A lower group's higher rate counts as an inversion only when a one-sided two-proportion z-test
    says chance would give it less than `SIGNIFICANCE` of the time: with a few dozen MQLs per grade,
    rates a few points apart are noise, and an alert on noise teaches RevOps to ignore it.
    """
    ranking = RANKED.get(by)
    if ranking is None:
        return None
    by_group = {row.group: row for row in rows if row.mqls >= MIN_COHORT}
    compared = [group for group in ranking if group in by_group]
    inversions = [
        Inversion(better, worse, by_group[better].opportunity_rate, by_group[worse].opportunity_rate, p)
        for better, worse in pairwise(compared)
        if (p := _p_greater(by_group[worse], by_group[better])) < SIGNIFICANCE
    ]
    if len(compared) < 2 or not any(by_group[group].opportunity for group in compared):
        verdict = CalibrationVerdict.TOO_FEW
    else:
        verdict = CalibrationVerdict.INVERTED if inversions else CalibrationVerdict.CALIBRATED
    return Calibration("opportunity_rate", compared, inversions, verdict)


def _p_greater(first: ConversionRow, second: ConversionRow) -> float:
    """One-sided p-value that `first` converts to opportunity more often than `second` only by chance."""
    pooled = (first.opportunity + second.opportunity) / (first.mqls + second.mqls)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / first.mqls + 1 / second.mqls))
    if spread == 0:
        return 1.0
    z = (first.opportunity_rate - second.opportunity_rate) / spread
    return 1 - NormalDist().cdf(z)
