"""Pure scoring rules: functions of (profile, engagement events, definitions, now). No I/O, no clock.

The score of a lead is a function of the *set* of its events: they are de-duplicated by event id
and put in a canonical order (occurred_at, event id) before anything is counted, so the arrival
order and redeliveries never change a score. Time enters only through `now`, which decays points.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal

from baton_contracts.definitions.scoring import (
    Condition,
    DemandDefinitions,
    EngagementDefinitions,
    EngagementRule,
    FitDefinitions,
    ScoringDefinitions,
)
from baton_contracts.events import ScoreContribution

FitGrade = Literal["A", "B", "C", "D"]
DemandState = Literal["unaware", "problem_aware", "solution_aware", "partner_aware"]
SECONDS_PER_DAY = 86_400.0
REVIEW_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Activity:
    """One engagement event as scoring sees it."""

    event_id: str
    activity: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FitResult:
    score: float
    grade: FitGrade
    contributions: list[ScoreContribution]
    disqualifiers: list[str]


@dataclass(frozen=True)
class EngagementResult:
    score: float
    band: int
    contributions: list[ScoreContribution]
    high_intent: list[str]
    demand_state: DemandState


@dataclass(frozen=True)
class Scorecard:
    """A lead's full score at one moment, with every line of its explanation."""

    fit: FitResult
    engagement: EngagementResult

    @property
    def score(self) -> float:
        return round(self.fit.score + self.engagement.score, 2)

    @property
    def grade(self) -> str:
        return f"{self.fit.grade}{self.engagement.band}"

    @property
    def contributions(self) -> list[ScoreContribution]:
        return [*self.fit.contributions, *self.engagement.contributions]


# ---------------------------------------------------------------------------------------------
# Identity


def normalise_email(email: str) -> str:
    return email.strip().lower()


def email_domain(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None
    return normalise_email(email).rpartition("@")[2] or None


def account_key(email: str | None, *, free_mail_domains: Iterable[str]) -> str | None:
    """The account a lead belongs to: its email domain, unless that is a personal mailbox."""
    domain = email_domain(email)
    if domain is None or domain in _lowered(free_mail_domains):
        return None
    return domain


# ---------------------------------------------------------------------------------------------
# Fit


def _field_value(profile: Mapping[str, Any], name: str) -> Any:
    if name == "email_domain":
        return email_domain(profile.get("email"))
    return profile.get(name)


def _is_missing(value: Any) -> bool:
    return value is None or value == "" or value == []


def condition_holds(condition: Condition, profile: Mapping[str, Any], *, free_mail_domains: Iterable[str]) -> bool:
    value = _field_value(profile, condition.field)
    if condition.missing is not None:
        return _is_missing(value) == condition.missing
    if _is_missing(value):
        return False
    values = value if isinstance(value, list) else [value]
    return any(_value_holds(condition, v, free_mail_domains) for v in values)


def _value_holds(condition: Condition, value: Any, free_mail_domains: Iterable[str]) -> bool:
    if condition.range is not None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        low, high = condition.range
        return (low is None or value >= low) and (high is None or value <= high)
    text = str(value).strip().lower()
    if condition.any_of is not None:
        return text in _lowered(condition.any_of)
    if condition.matches is not None:
        return _pattern(condition.matches).search(text) is not None
    if condition.free_mail is not None:
        return (text in _lowered(free_mail_domains)) == condition.free_mail
    return False


_LOWERED: dict[int, tuple[Iterable[str], frozenset[str]]] = {}


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    """`re.search(pattern, text, re.IGNORECASE)` without the module's per-call cache lookup."""
    return re.compile(pattern, re.IGNORECASE)


def _lowered(values: Iterable[str]) -> frozenset[str]:
    """`values` lower-cased, computed once per list (definitions are immutable and live as long as the process)."""
    cached = _LOWERED.get(id(values))
    if cached is None or cached[0] is not values:
        cached = (values, frozenset(v.lower() for v in values))
        _LOWERED[id(values)] = cached
    return cached[1]


def score_fit(
    profile: Mapping[str, Any], definitions: FitDefinitions, *, free_mail_domains: Iterable[str]
) -> FitResult:
    """Fit from the profile: each criterion's first matching option, minus the negative indicators that hold.

    Never below 0. A criterion with no match is still explained (count 0), so a reader sees what was missed.
    """
    lines: list[ScoreContribution] = []
    for criterion in definitions.criteria:
        option = next(
            (o for o in criterion.options if condition_holds(o, profile, free_mail_domains=free_mail_domains)), None
        )
        points = option.points if option is not None else 0.0
        lines.append(
            ScoreContribution.model_construct(
                rule=f"fit:{criterion.name}",
                category="fit",
                count=1 if option is not None else 0,
                raw_points=points,
                decay_factor=1.0,
                points=points,
                caps_applied=[],  # passed, not defaulted: pydantic's default_factory path inspects `list` per call
            )
        )
    disqualifiers: list[str] = []
    for indicator in definitions.negative_indicators:
        if condition_holds(indicator, profile, free_mail_domains=free_mail_domains):
            lines.append(
                ScoreContribution.model_construct(
                    rule=f"negative:{indicator.name}",
                    category="fit",
                    count=1,
                    raw_points=indicator.points,
                    decay_factor=1.0,
                    points=indicator.points,
                    caps_applied=[],
                )
            )
            if indicator.disqualify:
                disqualifiers.append(indicator.name)
    total = sum(line.points for line in lines)
    if total < 0:
        lines.append(
            ScoreContribution.model_construct(
                rule="fit:floor", category="fit", count=0, points=-total, caps_applied=["floor_zero"]
            )
        )
        total = 0.0
    total = round(total, 2)
    return FitResult(score=total, grade=fit_grade(total, definitions), contributions=lines, disqualifiers=disqualifiers)


def fit_grade(score: float, definitions: FitDefinitions) -> FitGrade:
    grades = definitions.grades
    if score >= grades.A:
        return "A"
    if score >= grades.B:
        return "B"
    if score >= grades.C:
        return "C"
    return "D"


# ---------------------------------------------------------------------------------------------
# Engagement


def match_rule(activity: Activity, rules: Sequence[EngagementRule]) -> EngagementRule | None:
    """The first rule whose activities include the event's and whose property filters all match."""
    for rule in rules:
        if activity.activity not in rule.activities:
            continue
        if all(
            key in activity.properties
            and activity.properties[key] is not None
            and _pattern(pattern).search(str(activity.properties[key])) is not None
            for key, pattern in rule.where.items()
        ):
            return rule
    return None


@dataclass(frozen=True)
class Classified:
    """A lead's events, de-duplicated, in canonical order, each with the rule it matched (None: scores 0).

    Built once per lead, then evaluated at any `now` (the decay worker evaluates several).
    """

    matched: dict[str, list[Activity]]  # rule name -> events, canonical order
    unmatched: dict[str, int]  # activity -> count of events no rule scores
    rules: dict[str, EngagementRule]
    counted: dict[str, list[Activity]]  # rule name -> the events its daily cap lets count
    terms: list[tuple[float, float, datetime]]  # (points, half-life days, occurred_at) of every counted event


def classify(activities: Iterable[Activity], definitions: EngagementDefinitions) -> Classified:
    unique = {a.event_id: a for a in activities}
    ordered = sorted(unique.values(), key=lambda a: (a.occurred_at, a.event_id))
    matched: dict[str, list[Activity]] = defaultdict(list)
    unmatched: dict[str, int] = defaultdict(int)
    for activity in ordered:
        rule = match_rule(activity, definitions.rules)
        if rule is None:
            unmatched[activity.activity] += 1
        else:
            matched[rule.name].append(activity)
    rules = {r.name: r for r in definitions.rules}
    counted = {name: _counted(events, rules[name].daily_cap)[0] for name, events in matched.items()}
    terms = [
        (rules[name].points, rules[name].half_life_days or definitions.default_half_life_days, e.occurred_at)
        for name, events in counted.items()
        for e in events
    ]
    return Classified(matched=dict(matched), unmatched=dict(unmatched), rules=rules, counted=counted, terms=terms)


def decay_factor(*, age: timedelta, half_life_days: float, expire_after_days: float) -> float:
    """0.5 ** (age / half-life); 1 for an event not yet in the past; 0 once it is older than the expiry."""
    age_days = max(0.0, age.total_seconds() / SECONDS_PER_DAY)
    if age_days > expire_after_days:
        return 0.0
    return float(0.5 ** (age_days / half_life_days))


def _counted(events: list[Activity], daily_cap: int | None) -> tuple[list[Activity], int]:
    """The events that count under the per-day cap (the earliest of each UTC day) and how many were capped."""
    if daily_cap is None:
        return events, 0
    per_day: dict[date, int] = defaultdict(int)
    counted: list[Activity] = []
    for event in events:
        day = _utc_day(event.occurred_at)
        if per_day[day] < daily_cap:
            per_day[day] += 1
            counted.append(event)
    return counted, len(events) - len(counted)


def _utc_day(moment: datetime) -> date:
    offset = moment.utcoffset() or timedelta(0)
    return (moment - offset).date()


def _engagement_points(classified: Classified, definitions: EngagementDefinitions, now: datetime) -> float:
    """The engagement score at `now` (what `score_engagement` computes, without the explanation)."""
    expire = definitions.expire_after_days
    total = 0.0
    for points, half_life, occurred_at in classified.terms:
        age_days = (now - occurred_at).total_seconds() / SECONDS_PER_DAY
        if age_days <= 0:
            total += points
        elif age_days <= expire:
            total += points * 0.5 ** (age_days / half_life)
    return round(min(max(total, 0.0), definitions.total_cap), 2)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_MICROSECONDS_PER_SECOND = 1_000_000


def _points_at(classified: Classified, definitions: EngagementDefinitions) -> Callable[[datetime], float]:
    """`_engagement_points(classified, definitions, now)` as a function of `now`, for evaluating many times.

    The event times are turned into integer microseconds once, so each call does exact integer
    subtraction and the same divisions as `timedelta.total_seconds()`: results are bit-identical.
    """
    expire = definitions.expire_after_days
    cap = definitions.total_cap
    terms = [(points, half_life, (at - _EPOCH) // _MICROSECOND) for points, half_life, at in classified.terms]

    def points_at(now: datetime) -> float:
        now_us = (now - _EPOCH) // _MICROSECOND
        total = 0.0
        for points, half_life, at_us in terms:
            age_days = (now_us - at_us) / _MICROSECONDS_PER_SECOND / SECONDS_PER_DAY
            if age_days <= 0:
                total += points
            elif age_days <= expire:
                total += points * 0.5 ** (age_days / half_life)
        return round(min(max(total, 0.0), cap), 2)

    return points_at


def engagement_band(score: float, definitions: EngagementDefinitions) -> int:
    return 1 + sum(1 for minimum in definitions.bands if score >= minimum)


def score_engagement(classified: Classified, definitions: EngagementDefinitions, *, now: datetime) -> EngagementResult:
    lines: list[ScoreContribution] = []
    high_intent: set[str] = set()
    intent_window = timedelta(days=definitions.high_intent_window_days)
    for rule in definitions.rules:
        events = classified.matched.get(rule.name)
        if not events:
            continue
        half_life = rule.half_life_days or definitions.default_half_life_days
        counted = classified.counted[rule.name]
        capped = len(events) - len(counted)
        raw = rule.points * len(counted)
        points = sum(
            rule.points
            * decay_factor(
                age=now - e.occurred_at, half_life_days=half_life, expire_after_days=definitions.expire_after_days
            )
            for e in counted
        )
        lines.append(
            ScoreContribution.model_construct(
                rule=f"engagement:{rule.name}",
                category="engagement",
                count=len(events),
                raw_points=raw,
                decay_factor=round(points / raw, 4) if raw else 1.0,
                points=round(points, 2),
                caps_applied=[f"daily_cap:{rule.name}"] if capped else [],
            )
        )
        if rule.high_intent and any(now - e.occurred_at <= intent_window for e in events):
            high_intent.add(rule.name)
    for combination in definitions.high_intent_combinations:
        if all(any(now - e.occurred_at <= intent_window for e in classified.matched.get(n, ())) for n in combination):
            high_intent.add("+".join(combination))
    for activity, count in sorted(classified.unmatched.items()):
        lines.append(
            ScoreContribution.model_construct(
                rule=f"activity:{activity}",
                category="engagement",
                count=count,
                raw_points=0.0,
                points=0.0,
                caps_applied=[],
            )
        )
    total = sum(line.points for line in lines)
    if total > definitions.total_cap:
        lines.append(
            ScoreContribution.model_construct(
                rule="engagement:total_cap",
                category="engagement",
                count=0,
                points=round(definitions.total_cap - total, 2),
                caps_applied=["total_cap"],
            )
        )
    elif total < 0:
        lines.append(
            ScoreContribution.model_construct(
                rule="engagement:floor",
                category="engagement",
                count=0,
                points=round(-total, 2),
                caps_applied=["floor_zero"],
            )
        )
    score = _engagement_points(classified, definitions, now)
    return EngagementResult(
        score=score,
        band=engagement_band(score, definitions),
        contributions=lines,
        high_intent=sorted(high_intent),
        demand_state="unaware",  # set by `scorecard`, which knows the demand rules
    )


# ---------------------------------------------------------------------------------------------
# Demand state, the whole scorecard, and when to look again


def demand_state(classified: Classified, definitions: DemandDefinitions, *, now: datetime) -> DemandState:
    """The first demand rule that holds within the window, else `unaware`."""
    window = timedelta(days=definitions.window_days)
    for rule in definitions.rules:
        seen = sum(1 for name in rule.rules for e in classified.matched.get(name, ()) if now - e.occurred_at <= window)
        if seen >= rule.min_count:
            return rule.state
    return "unaware"


def score_lead(
    profile: Mapping[str, Any], activities: Iterable[Activity], definitions: ScoringDefinitions, *, now: datetime
) -> Scorecard:
    """The lead's scorecard at `now`. Depends only on the set of events (not their order or repeats)."""
    return scorecard(profile, classify(activities, definitions.engagement), definitions, now=now)


def scorecard(
    profile: Mapping[str, Any], classified: Classified, definitions: ScoringDefinitions, *, now: datetime
) -> Scorecard:
    fit = score_fit(profile, definitions.fit, free_mail_domains=definitions.free_mail_domains)
    engagement = score_engagement(classified, definitions.engagement, now=now)
    state = demand_state(classified, definitions.demand, now=now)
    return Scorecard(fit=fit, engagement=replace(engagement, demand_state=state))


def next_review_at(classified: Classified, definitions: ScoringDefinitions, *, now: datetime) -> datetime | None:
    """The earliest time after `now` at which, with no new event, the engagement band drops, a high-intent
    activity leaves its window or a demand-state signal expires; None when nothing will change.

    The band's drop time is found by bisection to `REVIEW_PRECISION`, assuming the score only falls with
    time (true unless negative points dominate; a rise is caught by the next event instead).
    """
    engagement = definitions.engagement
    candidates: list[datetime] = []
    intent_window = timedelta(days=engagement.high_intent_window_days)
    in_combinations = {name for combination in engagement.high_intent_combinations for name in combination}
    for name, events in classified.matched.items():
        if classified.rules[name].high_intent or name in in_combinations:
            leaves = events[-1].occurred_at + intent_window
            if leaves > now:
                candidates.append(leaves)
    demand_rules = {name for rule in definitions.demand.rules for name in rule.rules}
    demand_window = timedelta(days=definitions.demand.window_days)
    for name in demand_rules & classified.matched.keys():
        expiries = [
            e.occurred_at + demand_window for e in classified.matched[name] if e.occurred_at + demand_window > now
        ]
        if expiries:
            candidates.append(min(expiries))
    band = engagement_band(_engagement_points(classified, engagement, now), engagement)
    if band > 1:
        points_at = _points_at(classified, engagement)
        low, high = now, now + timedelta(days=engagement.expire_after_days + 1)
        if engagement_band(points_at(high), engagement) < band:
            while high - low > REVIEW_PRECISION:
                middle = low + (high - low) / 2
                if engagement_band(points_at(middle), engagement) < band:
                    high = middle
                else:
                    low = middle
            candidates.append(high)
    return min(candidates) if candidates else None
