"""The scoring section of the definitions: ICP fit, engagement points with decay and caps, demand states.

Fit is a property of who the lead is (profile fields) and never decays. Engagement is what the lead
did: each event earns the points of the first engagement rule it matches, decays with that rule's
half-life, counts at most `daily_cap` times per UTC day, and the lead's total is capped. Everything
here is data; the arithmetic lives in the scoring service's pure rules.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from baton_contracts.definitions.base import Strict

RuleName = Annotated[str, Field(min_length=1, max_length=80, pattern=r"^[a-z0-9][a-z0-9_]*$")]

ProfileField = Literal[
    "email",
    "email_domain",
    "first_name",
    "last_name",
    "title",
    "seniority",
    "department",
    "company",
    "domain",
    "employees",
    "industry",
    "country",
    "technologies",
]
"""Profile fields a condition can test. `email_domain` is the domain part of the normalised email."""


def _check_regex(value: str | None) -> str | None:
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression: {exc}") from exc
    return value


class Condition(Strict):
    """A test on one profile field. Set exactly one of `range`, `any_of`, `matches`, `missing`, `free_mail`.

    Text comparisons ignore case. On a list field (`technologies`) the condition holds when any
    element satisfies it. A field that is not known never matches (except `missing: true`).
    """

    field: ProfileField
    range: tuple[float | None, float | None] | None = Field(
        default=None, description="Inclusive [min, max] for a number; null for an open end."
    )
    any_of: list[str] | None = Field(default=None, min_length=1, description="Equal to one of these (any case).")
    matches: str | None = Field(default=None, description="A regular expression searched in the value (any case).")
    missing: bool | None = Field(default=None, description="True: holds when the field is unknown or empty.")
    free_mail: bool | None = Field(
        default=None, description="True: holds when the value (a domain) is one of `scoring.free_mail_domains`."
    )

    _check = field_validator("matches")(_check_regex)

    @model_validator(mode="after")
    def _exactly_one_test(self) -> Condition:
        names = ("range", "any_of", "matches", "missing", "free_mail")
        tests = [name for name in names if getattr(self, name) is not None]
        if len(tests) != 1:
            raise ValueError(f"set exactly one of range, any_of, matches, missing, free_mail (got {tests or 'none'})")
        low, high = self.range if self.range is not None else (None, None)
        if low is not None and high is not None and low > high:
            raise ValueError("range: min is greater than max")
        return self


class FitOption(Condition):
    """One value band of a criterion and the points it earns."""

    points: float = Field(ge=0)


class FitCriterion(Strict):
    """A weighted ICP criterion: the first option that matches earns its points; none matching earns 0."""

    name: RuleName
    description: str | None = None
    options: list[FitOption] = Field(min_length=1)


class NegativeIndicator(Condition):
    """A sign the lead will not buy: subtracts `points`, and with `disqualify` marks the lead disqualified."""

    name: RuleName
    points: float = Field(default=0, le=0, description="Points subtracted from fit (zero or negative).")
    disqualify: bool = False


class FitGrades(Strict):
    """Minimum fit score for each grade; below `C` is `D`."""

    A: float
    B: float
    C: float

    @model_validator(mode="after")
    def _descending(self) -> FitGrades:
        if not self.A > self.B > self.C:
            raise ValueError("grade minimums must descend: A > B > C")
        return self


class FitDefinitions(Strict):
    criteria: list[FitCriterion] = Field(min_length=1)
    negative_indicators: list[NegativeIndicator] = Field(default_factory=list)
    grades: FitGrades


class EngagementRule(Strict):
    """Points for an engagement event. An event earns the points of the first rule (in order) that matches it.

    `where` filters on the event's properties: every listed property must be present and match its
    regular expression (searched, any case), e.g. `{url: "^/pricing"}`.
    """

    name: RuleName
    activities: list[str] = Field(min_length=1, description="Event activities this rule applies to.")
    where: dict[str, str] = Field(default_factory=dict)
    points: float
    half_life_days: float | None = Field(
        default=None, gt=0, description="Days for the points to halve; `default_half_life_days` when unset."
    )
    daily_cap: int | None = Field(default=None, ge=1, description="At most this many events per UTC day count.")
    high_intent: bool = Field(default=False, description="Fast-track signal when seen within the high-intent window.")

    @field_validator("where")
    @classmethod
    def _regexes(cls, value: dict[str, str]) -> dict[str, str]:
        for pattern in value.values():
            _check_regex(pattern)
        return value


class EngagementDefinitions(Strict):
    default_half_life_days: float = Field(default=30, gt=0)
    expire_after_days: float = Field(default=180, gt=0, description="Events older than this score nothing.")
    total_cap: float = Field(gt=0, description="The most engagement points a lead can hold.")
    bands: tuple[float, float, float] = Field(
        description="Minimum engagement score of bands 2, 3 and 4 (band 1 is below the first)."
    )
    high_intent_window_days: float = Field(default=14, gt=0)
    high_intent_combinations: list[list[RuleName]] = Field(
        default_factory=list,
        description="Rules that together are a high-intent signal when all are seen in the window; reported "
        "as their names joined by `+`, e.g. `pricing_page_view+form_submit`.",
    )
    rules: list[EngagementRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> EngagementDefinitions:
        if not self.bands[0] < self.bands[1] < self.bands[2]:
            raise ValueError("bands must ascend")
        names = [rule.name for rule in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate engagement rule names: {', '.join(duplicates)}")
        unknown = sorted({n for combination in self.high_intent_combinations for n in combination} - set(names))
        if unknown:
            raise ValueError(f"high_intent_combinations: unknown engagement rules {', '.join(unknown)}")
        return self


DemandStateName = Literal["problem_aware", "solution_aware", "partner_aware"]


class DemandRule(Strict):
    """The lead is in `state` when, within the window, it matched any of `rules` at least `min_count` times."""

    state: DemandStateName
    rules: list[RuleName] = Field(min_length=1, description="Engagement rule names.")
    min_count: int = Field(default=1, ge=1)


class DemandDefinitions(Strict):
    window_days: float = Field(default=60, gt=0)
    rules: list[DemandRule] = Field(
        min_length=1, description="Checked in order; the first that holds gives the state, else `unaware`."
    )


class AccountDefinitions(Strict):
    engaged_min_score: float = Field(
        default=10, ge=0, description="A lead counts as an engaged stakeholder from this engagement score."
    )


class ScoringDefinitions(Strict):
    free_mail_domains: list[str] = Field(
        default_factory=list, description="Personal mailbox domains: no account key, and a negative indicator."
    )
    fit: FitDefinitions
    engagement: EngagementDefinitions
    demand: DemandDefinitions
    account: AccountDefinitions = AccountDefinitions()

    @property
    def activity_points(self) -> dict[str, float]:
        """Base points per activity: each activity's first engagement rule without property filters
        (before decay and caps). A summary for people and fakes; scoring itself applies every rule."""
        points: dict[str, float] = {}
        for rule in self.engagement.rules:
            if not rule.where:
                for activity in rule.activities:
                    points.setdefault(activity, rule.points)
        return points

    @model_validator(mode="after")
    def _demand_rules_exist(self) -> ScoringDefinitions:
        known = {rule.name for rule in self.engagement.rules}
        for i, rule in enumerate(self.demand.rules):
            unknown = [name for name in rule.rules if name not in known]
            if unknown:
                raise ValueError(f"demand.rules.{i}: unknown engagement rules {', '.join(unknown)}")
        return self
