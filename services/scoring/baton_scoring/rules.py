"""Pure scoring rules: functions of (profile, engagement events, definitions, now). No I/O, no clock.

The score of a lead is a function of the *set* of its events: `Classified` keeps, per engagement
rule, the sorted times of the events it matched (de-duplicated by event id before they get there),
so the arrival order and redeliveries never change a score. Time enters only through `now`, which
decays points. `Classified.add` folds in one more event, so a service can keep a lead's state and
rescore it per event without re-reading or re-sorting what it already holds.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, Literal, TypeVar

from baton_contracts.definitions.scoring import (
    Condition,
    DemandDefinitions,
    EngagementDefinitions,
    FitDefinitions,
    ScoringDefinitions,
)

S = TypeVar("S")
V = TypeVar("V")
FitGrade = Literal["A", "B", "C", "D"]
DemandState = Literal["unaware", "problem_aware", "solution_aware", "partner_aware"]
REVIEW_PRECISION = timedelta(minutes=1)


@dataclass(frozen=True)
class Activity:
    """One engagement event as scoring sees it."""

    event_id: str
    activity: str
    occurred_at: datetime
    properties: Mapping[str, Any] = field(default_factory=dict)


NO_CAPS: list[str] = []  # shared by every line no cap touched; never mutated


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs a setattr call per field
class Line:
    """One line of a score's explanation: the fields of `baton_contracts.events.ScoreContribution`.

    Not the pydantic model: a scorecard has a dozen lines and a busy service makes thousands of
    scorecards a second. `orjson.dumps` writes a line (fields in this order) as the contract's JSON
    object, as does `as_dict`.
    """

    rule: str
    category: str
    count: int
    raw_points: float | None
    decay_factor: float | None
    points: float
    caps_applied: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "category": self.category,
            "count": self.count,
            "raw_points": self.raw_points,
            "decay_factor": self.decay_factor,
            "points": self.points,
            "caps_applied": self.caps_applied,
        }


@dataclass(frozen=True)
class FitResult:
    score: float
    grade: FitGrade
    contributions: list[Line]
    disqualifiers: list[str]


@dataclass(slots=True)  # not frozen, like `Line`: one is made per rescore; treat as read-only
class EngagementResult:
    score: float
    band: int
    contributions: list[Line]
    high_intent: list[str]
    demand_state: DemandState
    # For the review: per rule, (current unrounded points, half-life µs), and the first time after
    # `now` an event expires (the points are a smooth sum of exponentials until then).
    components: tuple[tuple[float, float], ...] = ()
    horizon_us: int | None = None
    steady: float = 0.0  # points of events dated after now: they do not decay before `horizon_us`


@dataclass(slots=True)  # not frozen, like `Line`; treat as read-only
class Scorecard:
    """A lead's full score at one moment, with every line of its explanation, and when to look again."""

    fit: FitResult
    engagement: EngagementResult
    review_at: datetime | None = None
    score: float = field(init=False)  # fit + engagement
    grade: str = field(init=False)  # fit grade and engagement band, e.g. "A2"

    def __post_init__(self) -> None:
        self.score = round(self.fit.score + self.engagement.score, 2)
        self.grade = f"{self.fit.grade}{self.engagement.band}"

    @property
    def contributions(self) -> list[Line]:
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


_DERIVED: dict[tuple[int, Callable[[Any], Any]], tuple[Any, Any]] = {}


def _once_per(source: S, derive: Callable[[S], V]) -> V:
    """`derive(source)`, computed once per `source` object: definitions are immutable and live as long
    as the process, and these derivations sit on the per-event path."""
    key = (id(source), derive)
    cached = _DERIVED.get(key)
    if cached is None or cached[0] is not source:
        cached = _DERIVED[key] = (source, derive(source))
    result: V = cached[1]
    return result


@lru_cache(maxsize=1024)
def _pattern(pattern: str) -> re.Pattern[str]:
    """`re.search(pattern, text, re.IGNORECASE)` without the module's per-call cache lookup."""
    return re.compile(pattern, re.IGNORECASE)


def _lowered(values: Iterable[str]) -> frozenset[str]:
    """`values` lower-cased, once per list."""
    return _once_per(values, _lower_all)


def _lower_all(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v.lower() for v in values)


def score_fit(
    profile: Mapping[str, Any], definitions: FitDefinitions, *, free_mail_domains: Iterable[str]
) -> FitResult:
    """Fit from the profile: each criterion's first matching option, minus the negative indicators that hold.

    Never below 0. A criterion with no match is still explained (count 0), so a reader sees what was missed.
    """
    lines: list[Line] = []
    criteria_names, indicator_names = _fit_line_names(definitions)
    for criterion, name in zip(definitions.criteria, criteria_names, strict=True):
        option = next(
            (o for o in criterion.options if condition_holds(o, profile, free_mail_domains=free_mail_domains)), None
        )
        points = option.points if option is not None else 0.0
        lines.append(Line(name, "fit", 1 if option is not None else 0, points, 1.0, points, NO_CAPS))
    disqualifiers: list[str] = []
    for indicator, name in zip(definitions.negative_indicators, indicator_names, strict=True):
        if condition_holds(indicator, profile, free_mail_domains=free_mail_domains):
            lines.append(Line(name, "fit", 1, indicator.points, 1.0, indicator.points, NO_CAPS))
            if indicator.disqualify:
                disqualifiers.append(indicator.name)
    total = sum(line.points for line in lines)
    if total < 0:
        lines.append(Line("fit:floor", "fit", 0, None, None, -total, ["floor_zero"]))
        total = 0.0
    total = round(total, 2)
    return FitResult(score=total, grade=fit_grade(total, definitions), contributions=lines, disqualifiers=disqualifiers)


def _fit_line_names(definitions: FitDefinitions) -> tuple[list[str], list[str]]:
    """The explanation line names of the criteria and negative indicators, made once per definitions
    (a service holds a fit result per lead in memory: one string each, not one per lead)."""
    return _once_per(definitions, _name_fit_lines)


def _name_fit_lines(definitions: FitDefinitions) -> tuple[list[str], list[str]]:
    return (
        [f"fit:{criterion.name}" for criterion in definitions.criteria],
        [f"negative:{indicator.name}" for indicator in definitions.negative_indicators],
    )


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
#
# Times are integer microseconds since the epoch (UTC): exact, cheap to compare and subtract, and a
# UTC day is an integer division. A lead's events live in `Classified`, per rule, sorted.

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
US_PER_DAY = 86_400_000_000
_REVIEW_PRECISION_US = REVIEW_PRECISION // _MICROSECOND
_LN2 = math.log(2)


def epoch_us(moment: datetime) -> int:
    return (moment - _EPOCH) // _MICROSECOND


def from_epoch_us(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


@dataclass(frozen=True, slots=True)
class _RuleRow:
    """An engagement rule as the per-event code reads it (derived once per definitions)."""

    name: str
    line_name: str  # its explanation line, `engagement:<name>`
    cap_label: str  # `daily_cap:<name>`
    points: float
    daily_cap: int | None
    half_life_us: float
    high_intent: bool


@dataclass(frozen=True, slots=True)
class _EngagementTable:
    """The engagement definitions as the per-event code reads them (derived once per definitions)."""

    rules: tuple[_RuleRow, ...]
    # activity → (rule name, its property filters) of the rules listing the activity, in definitions order
    candidates: dict[str, tuple[tuple[str, tuple[tuple[str, re.Pattern[str]], ...]], ...]]
    expire_us: float
    intent_window_us: float
    combinations: tuple[tuple[tuple[str, ...], str], ...]  # high-intent combinations: (rule names, label)


def _engagement_table(definitions: EngagementDefinitions) -> _EngagementTable:
    return _once_per(definitions, _derive_engagement_table)


def _derive_engagement_table(definitions: EngagementDefinitions) -> _EngagementTable:
    candidates: dict[str, list[tuple[str, tuple[tuple[str, re.Pattern[str]], ...]]]] = {}
    for rule in definitions.rules:
        where = tuple((key, _pattern(pattern)) for key, pattern in rule.where.items())
        for activity in dict.fromkeys(rule.activities):
            candidates.setdefault(activity, []).append((rule.name, where))
    rows = tuple(
        _RuleRow(
            name=rule.name,
            line_name=f"engagement:{rule.name}",
            cap_label=f"daily_cap:{rule.name}",
            points=rule.points,
            daily_cap=rule.daily_cap,
            half_life_us=(rule.half_life_days or definitions.default_half_life_days) * US_PER_DAY,
            high_intent=rule.high_intent,
        )
        for rule in definitions.rules
    )
    return _EngagementTable(
        rules=rows,
        candidates={activity: tuple(rules) for activity, rules in candidates.items()},
        expire_us=definitions.expire_after_days * US_PER_DAY,
        intent_window_us=definitions.high_intent_window_days * US_PER_DAY,
        combinations=tuple((tuple(names), "+".join(names)) for names in definitions.high_intent_combinations),
    )


def _matching_rule(activity: str, properties: Mapping[str, Any], definitions: EngagementDefinitions) -> str | None:
    """The name of the first rule whose activities include the event's and whose property filters all
    match (searched, any case), or None: the event scores 0."""
    for name, where in _engagement_table(definitions).candidates.get(activity, ()):
        for key, pattern in where:
            value = properties.get(key)
            if value is None or pattern.search(str(value)) is None:
                break
        else:
            return name
    return None


@dataclass
class Classified:
    """A lead's engagement events: per matched rule, and per activity that no rule scores, their sorted
    times (epoch µs). A function of the *set* of events added, whatever the order.

    `add` folds in one event; callers de-duplicate by event id first (`classify` does, the service's
    database does). Evaluated at any `now` by `score_engagement`, `demand_state` and `next_review_at`;
    events older than `expire_after_days` at that moment are ignored (they score nothing and are not listed).
    """

    definitions: EngagementDefinitions
    matched: dict[str, list[int]] = field(default_factory=dict)
    unmatched: dict[str, list[int]] = field(default_factory=dict)

    def add(self, activity: str, occurred_at: datetime, properties: Mapping[str, Any]) -> str | None:
        """Add one event; returns the name of the rule it matched, or None (it scores 0)."""
        return self.add_at(activity, epoch_us(occurred_at), properties)

    def add_at(self, activity: str, at_us: int, properties: Mapping[str, Any]) -> str | None:
        """`add`, with the event's time already in epoch µs."""
        rule = _matching_rule(activity, properties, self.definitions)
        times = self.unmatched.setdefault(activity, []) if rule is None else self.matched.setdefault(rule, [])
        insort(times, at_us)
        return rule


def classify(activities: Iterable[Activity], definitions: EngagementDefinitions) -> Classified:
    """`Classified` of a set of events, de-duplicated by event id."""
    classified = Classified(definitions)
    for activity in {a.event_id: a for a in activities}.values():
        classified.add(activity.activity, activity.occurred_at, activity.properties)
    return classified


def decay_factor(*, age: timedelta, half_life_days: float, expire_after_days: float) -> float:
    """0.5 ** (age / half-life); 1 for an event not yet in the past; 0 once it is older than the expiry."""
    if age > timedelta(days=expire_after_days):
        return 0.0
    return _decay(age // _MICROSECOND, half_life_days * US_PER_DAY)


def _decay(age_us: int, half_life_us: float) -> float:
    """`decay_factor` of an event not older than the expiry, in µs (what `score_engagement` sums)."""
    return 1.0 if age_us <= 0 else float(0.5 ** (age_us / half_life_us))


def _counted(times: list[int], daily_cap: int | None) -> list[int]:
    """The times that count under the per-UTC-day cap: the earliest `daily_cap` of each day."""
    if daily_cap is None or len(times) <= daily_cap:
        return times
    counted: list[int] = []
    day, seen = None, 0
    for at in times:
        if at // US_PER_DAY != day:
            day, seen = at // US_PER_DAY, 0
        if seen < daily_cap:
            counted.append(at)
            seen += 1
    return counted


def _live(times: list[int], oldest: float) -> list[int]:
    """The times not older than `oldest` (sorted input; the expiry cut-off)."""
    return times[bisect_left(times, oldest) :] if times and times[0] < oldest else times


def engagement_band(score: float, definitions: EngagementDefinitions) -> int:
    return 1 + sum(1 for minimum in definitions.bands if score >= minimum)


def _capped(total: float, definitions: EngagementDefinitions) -> float:
    return round(min(max(total, 0.0), definitions.total_cap), 2)


def score_engagement(
    classified: Classified, definitions: EngagementDefinitions, *, now: datetime, demand: DemandState = "unaware"
) -> EngagementResult:
    """Engagement at `now`: per rule, its live events (capped per day) decayed by the rule's half-life,
    summed and capped. `demand` is carried into the result (`scorecard` passes the lead's demand state)."""
    table = _engagement_table(definitions)
    now_us = epoch_us(now)
    oldest = now_us - table.expire_us
    intent_since = now_us - table.intent_window_us
    matched = classified.matched
    lines: list[Line] = []
    high_intent: list[str] = []
    total = steady = 0.0
    components: list[tuple[float, float]] = []
    horizon: int | None = None
    for rule in table.rules:
        times = matched.get(rule.name)
        if not times:
            continue
        times = _live(times, oldest)
        if not times:
            continue
        counted = _counted(times, rule.daily_cap)
        half_life_us = rule.half_life_us
        decayed = 0.0
        for at in counted:  # every one live (not expired)
            decayed += _decay(now_us - at, half_life_us)
        raw = rule.points * len(counted)
        points = rule.points * decayed
        total += points
        # Smooth until the oldest counted event expires. An event dated after now (a sender's clock
        # ahead of ours) holds its full points until it happens: a constant until then.
        changes = counted[0] + int(table.expire_us) + 1
        held = 0.0
        if counted[-1] > now_us:
            first_future = bisect_right(counted, now_us)
            changes = min(changes, counted[first_future])
            held = rule.points * (len(counted) - first_future)
            steady += held
        components.append((points - held, half_life_us))
        if horizon is None or changes < horizon:
            horizon = changes
        lines.append(
            Line(
                rule.line_name,
                "engagement",
                len(times),
                raw,
                round(points / raw, 4) if raw else 1.0,
                round(points, 2),
                [rule.cap_label] if len(counted) < len(times) else NO_CAPS,
            )
        )
        if rule.high_intent and times[-1] >= intent_since:
            high_intent.append(rule.name)
    for names, label in table.combinations:
        if all(name in matched and matched[name][-1] >= intent_since for name in names):
            high_intent.append(label)
    for activity, times in sorted(classified.unmatched.items()):
        if count := len(_live(times, oldest)):
            lines.append(Line(f"activity:{activity}", "engagement", count, 0.0, None, 0.0, NO_CAPS))
    listed = sum(line.points for line in lines)
    if listed > definitions.total_cap:
        lines.append(
            Line(
                "engagement:total_cap",
                "engagement",
                0,
                None,
                None,
                round(definitions.total_cap - listed, 2),
                ["total_cap"],
            )
        )
    elif listed < 0:
        lines.append(Line("engagement:floor", "engagement", 0, None, None, round(-listed, 2), ["floor_zero"]))
    score = _capped(total, definitions)
    return EngagementResult(
        score=score,
        band=engagement_band(score, definitions),
        contributions=lines,
        high_intent=sorted(set(high_intent)),
        demand_state=demand,
        components=tuple(components),
        horizon_us=horizon,
        steady=steady,
    )


# ---------------------------------------------------------------------------------------------
# Demand state, the whole scorecard, and when to look again


def demand_state(classified: Classified, definitions: DemandDefinitions, *, now: datetime) -> DemandState:
    """The first demand rule that holds within the window, else `unaware`."""
    since = epoch_us(now) - definitions.window_days * US_PER_DAY
    for rule in definitions.rules:
        seen = 0
        for name in rule.rules:
            times = classified.matched.get(name, ())
            seen += len(times) - bisect_left(times, since)
        if seen >= rule.min_count:
            return rule.state
    return "unaware"


def score_lead(
    profile: Mapping[str, Any], activities: Iterable[Activity], definitions: ScoringDefinitions, *, now: datetime
) -> Scorecard:
    """The lead's scorecard at `now`. Depends only on the set of events (not their order or repeats)."""
    return scorecard(profile, classify(activities, definitions.engagement), definitions, now=now)


def scorecard(
    profile: Mapping[str, Any],
    classified: Classified,
    definitions: ScoringDefinitions,
    *,
    now: datetime,
    fit: FitResult | None = None,
) -> Scorecard:
    """The scorecard at `now`; pass `fit` (from `score_fit` of the same profile) to reuse it: fit never decays."""
    if fit is None:
        fit = score_fit(profile, definitions.fit, free_mail_domains=definitions.free_mail_domains)
    demand = demand_state(classified, definitions.demand, now=now)
    engagement = score_engagement(classified, definitions.engagement, now=now, demand=demand)
    return Scorecard(fit=fit, engagement=engagement, review_at=review_at(classified, definitions, engagement, now=now))


def next_review_at(classified: Classified, definitions: ScoringDefinitions, *, now: datetime) -> datetime | None:
    """The earliest time after `now` at which, with no new event, the engagement band may drop, a
    high-intent activity leaves its window or a demand-state signal expires; None when nothing will change.

    Never later than the change: a review at that time rescores the lead and sets the next one, so the
    band's drop is found to `REVIEW_PRECISION` (at most a few reviews when events expire on the way).
    """
    return review_at(classified, definitions, score_engagement(classified, definitions.engagement, now=now), now=now)


def review_at(
    classified: Classified, definitions: ScoringDefinitions, engagement: EngagementResult, *, now: datetime
) -> datetime | None:
    """`next_review_at` from the lead's `engagement` at `now` (as `score_engagement` computed it)."""
    now_us = epoch_us(now)
    matched = classified.matched
    candidates: list[float] = []
    intent_us = definitions.engagement.high_intent_window_days * US_PER_DAY
    intent_rules, demand_rules = _watched(definitions)
    for name in matched.keys() & intent_rules:
        leaves = matched[name][-1] + intent_us
        if leaves > now_us:
            candidates.append(leaves)
    demand_us = definitions.demand.window_days * US_PER_DAY
    for name in matched.keys() & demand_rules:
        times = matched[name]
        first_live = bisect_right(times, now_us - demand_us)  # the oldest event still inside the window
        if first_live < len(times):
            candidates.append(times[first_live] + demand_us)
    drop = _band_drop_at(engagement, definitions.engagement, now_us)
    if drop is not None:
        candidates.append(drop)
    engaged_min = definitions.account.engaged_min_score
    bands = definitions.engagement.bands
    band_floor = bands[engagement.band - 2] if engagement.band > 1 else -math.inf
    if engagement.score >= engaged_min > max(band_floor, 0):
        # An engaged stakeholder of its account until then (its account's count reads the stored score),
        # and that comes before the band's drop. At or under the band's floor, the band's drop comes first.
        no_longer = _falls_below_at(engagement, engaged_min - 0.005, now_us)
        if no_longer is not None:
            candidates.append(no_longer)
    return from_epoch_us(math.ceil(min(candidates))) if candidates else None


def _watched(definitions: ScoringDefinitions) -> tuple[frozenset[str], frozenset[str]]:
    """The rules whose events leave a high-intent signal, and those a demand state counts (once per definitions)."""
    return _once_per(definitions, _derive_watched)


def _derive_watched(definitions: ScoringDefinitions) -> tuple[frozenset[str], frozenset[str]]:
    engagement = definitions.engagement
    intent = {rule.name for rule in engagement.rules if rule.high_intent}
    intent.update(name for combination in engagement.high_intent_combinations for name in combination)
    return frozenset(intent), frozenset(name for rule in definitions.demand.rules for name in rule.rules)


def _value_and_slope(
    components: tuple[tuple[float, float], ...], elapsed_us: float, steady: float = 0.0
) -> tuple[float, float]:
    """The unrounded engagement points `elapsed_us` after now, and their rate of change (per µs), while
    no event expires: each rule's current points decay with its half-life; `steady` stays."""
    total, slope = steady, 0.0
    for points, half_life_us in components:
        value = points * 0.5 ** (elapsed_us / half_life_us)
        total += value
        slope -= value * _LN2 / half_life_us
    return total, slope


def _band_drop_at(engagement: EngagementResult, definitions: EngagementDefinitions, now_us: int) -> float | None:
    """When the band first drops below today's (see `_falls_below_at`)."""
    if engagement.band == 1:
        return None
    # The band reads the score capped and rounded to 2 decimals; below the cap (every band's floor
    # is), it drops once the unrounded score is below this.
    return _falls_below_at(engagement, definitions.bands[engagement.band - 2] - 0.005, now_us)


def _falls_below_at(engagement: EngagementResult, target: float, now_us: int) -> float | None:
    """When the unrounded points first fall below `target`, to `REVIEW_PRECISION`, or the moment the
    first counted event expires (the points jump there; the review at that moment looks again); None
    if neither.

    Between now and that moment the points are Σ points_r · 2^(-t / half-life_r) over the rules, so the
    drop is found by Newton's method on their logarithm, from the left: the log of a sum of decaying
    exponentials is convex, so each step lands at or before the crossing (exactly on it when one
    half-life dominates), and a step shorter than the precision is taken as one precision to close the
    bracket. Anything else (negative points, a slow step) falls back to bisection.
    """
    horizon = engagement.horizon_us
    if horizon is None:
        return None
    components, steady = engagement.components, engagement.steady
    low, high = 0.0, float(horizon - now_us)
    if _value_and_slope(components, high, steady)[0] >= target:
        return horizon  # no drop before the first expiry: look again then
    log_target = math.log(target) if target > 0 else None
    at, newton_steps = low, 0
    while high - low > _REVIEW_PRECISION_US:
        total, slope = _value_and_slope(components, at, steady)
        following = None
        if total < target:
            high = at
        else:
            low = at
            if log_target is not None and newton_steps < 12 and slope < 0:
                newton_steps += 1
                estimate = at + max((math.log(total) - log_target) * total / -slope, _REVIEW_PRECISION_US)
                if estimate < high:
                    following = estimate
        at = following if following is not None else (low + high) / 2
    return now_us + high
