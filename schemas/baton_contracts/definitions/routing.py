"""The routing section of the definitions: segments, ordered rules, teams, account matching.

The roster (reps, teams, capacities, calendars) lives in the handoff service's tables and is
managed through its API; `reps` and `teams` here seed it at start-up (a rep already in the
roster is left as the API last set it).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from baton_contracts.definitions.base import CountryCode, Strict, TimeZoneName

Id = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")]
HHMM = Annotated[str, Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Weekday = Annotated[int, Field(ge=0, le=6, description="0 = Monday")]


class WorkingHours(Strict):
    """A rep's working hours, in the rep's own time zone."""

    days: list[Weekday] = Field(default_factory=lambda: [0, 1, 2, 3, 4])
    start: HHMM = "09:00"
    end: HHMM = "17:00"

    @model_validator(mode="after")
    def _a_span_that_can_match(self) -> WorkingHours:
        # Hours that can never match would leave the rep silently never eligible.
        if self.start >= self.end:  # "HH:MM" strings order as times
            raise ValueError("working hours must start before they end (overnight shifts are not supported)")
        if not self.days:
            raise ValueError("working hours need at least one day")
        return self


class Rep(Strict):
    id: Id
    name: str
    email: str
    timezone: TimeZoneName = "UTC"
    team: Id = "default"
    weight: float = Field(default=1.0, gt=0, le=100, description="Share of the team's leads, relative to teammates.")
    country: CountryCode | None = Field(default=None, description="ISO country of the rep's holidays.")
    calendar: str | None = None
    manager_id: str | None = None
    daily_cap: int | None = Field(default=None, ge=1)
    weekly_cap: int | None = Field(default=None, ge=1)
    working_hours: WorkingHours | None = Field(default=None, description="None: always available.")


class Team(Strict):
    id: Id
    name: str


class Segment(Strict):
    """A company-size segment; the first whose bounds hold wins."""

    name: Id
    min_employees: int = Field(default=0, ge=0)
    max_employees: int | None = Field(default=None, ge=0)


class RoutingCondition(Strict):
    """Every listed criterion must hold (an empty list matches anything)."""

    countries: list[str] = Field(default_factory=list, description="Territory: ISO countries of the lead.")
    segments: list[str] = Field(default_factory=list)
    products: list[str] = Field(default_factory=list, description="Product interest (`product:<name>` score rules).")
    sources: list[str] = Field(default_factory=list, description="The lead's first ingestion source.")


class RoutingRule(Strict):
    name: Id
    when: RoutingCondition = Field(default_factory=RoutingCondition)
    team: Id | None = None
    rep: Id | None = None

    @model_validator(mode="after")
    def _one_target(self) -> RoutingRule:
        if (self.team is None) == (self.rep is None):
            raise ValueError("a routing rule routes to exactly one of `team` or `rep`")
        return self


class AccountMatching(Strict):
    fuzzy_threshold: float = Field(default=90, ge=50, le=100, description="rapidfuzz score (0-100) a name must reach.")
    legal_suffixes: list[str] = Field(
        default_factory=lambda: [
            "inc",
            "incorporated",
            "llc",
            "ltd",
            "limited",
            "gmbh",
            "ag",
            "sa",
            "sas",
            "bv",
            "plc",
            "corp",
            "corporation",
            "co",
            "company",
            "group",
            "holdings",
        ],
        description="Words dropped when normalising company names.",
    )
    owner_routing: bool = Field(default=True, description="A matched account's eligible owner gets the lead.")


class RoutingDefinitions(Strict):
    reps: list[Rep] = Field(default_factory=list, description="Roster seed (the API manages the roster).")
    teams: list[Team] = Field(default_factory=lambda: [Team(id="default", name="Default")])
    segments: list[Segment] = Field(
        default_factory=lambda: [
            Segment(name="smb", max_employees=199),
            Segment(name="mid_market", min_employees=200, max_employees=1999),
            Segment(name="enterprise", min_employees=2000),
        ]
    )
    rules: list[RoutingRule] = Field(default_factory=list, description="Ordered: the first matching rule routes.")
    default_team: Id = Field(default="default", description="Where a lead goes when no rule matches.")
    account_matching: AccountMatching = Field(default_factory=AccountMatching)
    fallback_queue: Id = Field(default="unrouted", description="Where a lead waits when no one is eligible.")
