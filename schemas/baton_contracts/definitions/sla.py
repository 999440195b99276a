"""The sla section of the definitions: policies, business calendars, pauses, warnings, escalation.

A lead runs several clocks (`assignment`, `acceptance`, `first_response`). Each kind has a default
policy here; `targets` override it per routing segment and intent (first match wins). A policy
counts `business` time on a calendar (the rep's `assignee.calendar`, else their team's, else
`default_calendar`; the rep's own time zone and country apply when the assignee carries them) or
`wall` time. `wall` is the default so that a bare `{name, target_seconds}` keeps the foundation's
meaning.
"""

from __future__ import annotations

from datetime import date, time
from typing import Literal

from pydantic import Field, field_validator, model_validator

from baton_contracts.definitions.base import CountryCode, Strict, TimeZoneName

ClockKindName = Literal["assignment", "acceptance", "first_response"]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Channel = Literal["pagerduty", "alertmanager", "slack", "webhook"]
EscalationTarget = Literal["owner", "manager", "on_call"]


class SlaPolicy(Strict):
    name: str = Field(min_length=1, max_length=200)
    target_seconds: int = Field(
        gt=0,
        le=31_536_000,
        description="At most a year's worth of seconds: a handoff target is hours or days, and business time "
        "is searched for at most ten years ahead.",
    )
    time: Literal["business", "wall"] = Field(
        default="wall", description="`business`: counted on the business calendar; `wall`: calendar time."
    )
    calendar: str | None = Field(default=None, description="Force this calendar, whoever the rep is.")
    warnings_percent: list[int] | None = Field(
        default=None, description="Warn at these percentages of the target; None: the section's default."
    )
    escalation: str | None = Field(default=None, description="Escalation ladder name; None: `default_escalation`.")

    @field_validator("warnings_percent")
    @classmethod
    def _warnings_below_100(cls, value: list[int] | None) -> list[int] | None:
        if value is not None and any(not 0 < p < 100 for p in value):
            raise ValueError("warning percentages must be between 1 and 99")
        return sorted(set(value)) if value is not None else None


class WorkingHours(Strict):
    days: list[Weekday] = Field(default_factory=lambda: list[Weekday](["mon", "tue", "wed", "thu", "fri"]))
    start: time = time(9, 0)
    end: time = time(17, 0)

    @model_validator(mode="after")
    def _start_before_end(self) -> WorkingHours:
        if self.start >= self.end:
            raise ValueError("working hours must start before they end (overnight shifts are not supported)")
        if not self.days:
            raise ValueError("working hours need at least one day")
        return self


class BusinessCalendar(Strict):
    """Open hours in a time zone, closed on the country's public holidays and on `closed_dates`."""

    timezone: TimeZoneName = "UTC"
    country: CountryCode | None = Field(
        default=None, description="ISO 3166-1 alpha-2; public holidays from `holidays`."
    )
    subdivision: str | None = Field(default=None, description="State or province for regional holidays.")
    hours: WorkingHours = Field(default_factory=WorkingHours)
    closed_dates: list[date] = Field(default_factory=list, description="Company holidays, in the calendar's zone.")


class TargetOverride(Strict):
    """A policy for one kind of clock when the lead's segment and/or intent match (None matches any)."""

    kind: ClockKindName
    segment: str | None = None
    intent: Literal["high", "standard"] | None = None
    policy: SlaPolicy


class PauseCondition(Strict):
    """A lifecycle change whose `reason` is in `pause_reasons` pauses the listed kinds of clock; one whose
    reason is in `resume_reasons` (or any change of state) resumes them. Paused time is not counted."""

    name: str
    pause_reasons: list[str] = Field(min_length=1)
    resume_reasons: list[str] = Field(default_factory=list)
    kinds: list[ClockKindName] = Field(default_factory=lambda: list[ClockKindName](["first_response"]))


class EscalationStep(Strict):
    target: EscalationTarget
    after_seconds: int = Field(ge=0, description="Wall seconds after the previous step (the first: after breach).")
    channels: list[Channel] = Field(default_factory=list)


class EscalationLadder(Strict):
    steps: list[EscalationStep] = Field(default_factory=list)
    reassign_on_breach: bool = Field(default=False, description="Ask the handoff service to reassign the lead.")
    reassign_after_seconds: int = Field(default=0, ge=0, description="Wall seconds after the breach.")
    kinds: list[ClockKindName] = Field(
        default_factory=lambda: list[ClockKindName](["acceptance"]),
        description="Reassignment applies to these kinds only.",
    )


class SlaAlerting(Strict):
    """Which on-call channels hear warnings and breaches (escalation steps name their own)."""

    warning_channels: list[Channel] = Field(default_factory=lambda: list[Channel](["slack"]))
    breach_channels: list[Channel] = Field(default_factory=lambda: list[Channel](["slack", "alertmanager"]))


class SlaDefinitions(Strict):
    acceptance: SlaPolicy
    assignment: SlaPolicy | None = Field(default=None, description="MQL → assigned; None: no assignment clock.")
    first_response: SlaPolicy | None = Field(default=None, description="None: no first-response clock.")
    first_response_starts_on: Literal["mql", "assigned"] = "assigned"
    targets: list[TargetOverride] = Field(default_factory=list)
    warnings_percent: list[int] = Field(default_factory=lambda: [80, 95])
    calendars: dict[str, BusinessCalendar] = Field(default_factory=lambda: {"default": BusinessCalendar()})
    default_calendar: str = "default"
    team_calendars: dict[str, str] = Field(default_factory=dict, description="team_id → calendar name.")
    pauses: list[PauseCondition] = Field(default_factory=list)
    escalations: dict[str, EscalationLadder] = Field(default_factory=lambda: {"default": EscalationLadder()})
    default_escalation: str = "default"
    alerting: SlaAlerting = Field(default_factory=SlaAlerting)

    @field_validator("warnings_percent")
    @classmethod
    def _warnings_below_100(cls, value: list[int]) -> list[int]:
        if any(not 0 < p < 100 for p in value):
            raise ValueError("warning percentages must be between 1 and 99")
        return sorted(set(value))

    @model_validator(mode="after")
    def _names_resolve(self) -> SlaDefinitions:
        calendars = set(self.calendars)
        ladders = set(self.escalations)
        if self.default_calendar not in calendars:
            raise ValueError(f"default_calendar {self.default_calendar!r} is not in calendars")
        if self.default_escalation not in ladders:
            raise ValueError(f"default_escalation {self.default_escalation!r} is not in escalations")
        for team, name in self.team_calendars.items():
            if name not in calendars:
                raise ValueError(f"team_calendars.{team}: no calendar named {name!r}")
        policies = [p for p in (self.acceptance, self.assignment, self.first_response) if p is not None]
        for policy in [*policies, *(t.policy for t in self.targets)]:
            if policy.calendar is not None and policy.calendar not in calendars:
                raise ValueError(f"policy {policy.name}: no calendar named {policy.calendar!r}")
            if policy.escalation is not None and policy.escalation not in ladders:
                raise ValueError(f"policy {policy.name}: no escalation ladder named {policy.escalation!r}")
        return self
