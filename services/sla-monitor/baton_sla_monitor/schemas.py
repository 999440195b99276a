"""The SLA monitor's HTTP response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from baton_contracts.events import SlaClockKind
from baton_sla_monitor.models import SlaStepRecord
from baton_sla_monitor.reports import AttainmentRow, GroupBy
from baton_sla_monitor.rules import (
    ClockState,
    Milestones,
    SlaClock,
    consumed_seconds,
    remaining_business_seconds,
    remaining_seconds,
)

_AT = "2026-11-23T14:00:00Z"


class MilestonesRead(BaseModel):
    """When the lead first reached each milestone (None: not yet)."""

    mql_at: datetime | None = Field(examples=["2026-11-23T13:58:12Z"])
    assigned_at: datetime | None = Field(examples=[_AT])
    sal_at: datetime | None = Field(examples=[None])
    rejected_at: datetime | None = Field(examples=[None])
    first_response_at: datetime | None = Field(examples=[None])


class StepRead(BaseModel):
    step: str = Field(examples=["warning_80"], description="`warning_<n>`, `breach`, `escalation_<n>`, `reassign`.")
    due_at: datetime = Field(examples=["2026-11-23T17:12:00Z"])
    fired_at: datetime = Field(examples=["2026-11-23T17:12:00.21Z"])


class ClockRead(BaseModel):
    clock_id: str = Field(examples=["lead-42:acceptance:6f1c2f0e-8d1b-4d2a-9d0e-3c6b0a1f2e4d"])
    kind: SlaClockKind = Field(examples=[SlaClockKind.ACCEPTANCE])
    policy: str = Field(examples=["standard-acceptance"])
    rep_id: str | None = Field(examples=["ana.ortiz"])
    state: ClockState = Field(examples=[ClockState.RUNNING])
    started_at: datetime = Field(examples=[_AT])
    due_at: datetime = Field(examples=["2026-11-23T18:00:00Z"])
    remaining_seconds: float | None = Field(
        description="Seconds until due, negative when overdue, while the clock is running or breached; "
        "None once it stopped, and while it is paused (see `remaining_business_seconds`).",
        examples=[5400.0],
    )
    breached_at: datetime | None = Field(examples=[None])
    stopped_at: datetime | None = Field(examples=[None])
    met_late: bool | None = Field(
        description="Set when the clock was met: true when after its due time.", examples=[None]
    )
    time: str = Field(description="`business` (counted on a calendar) or `wall`.", examples=["business"])
    calendar_timezone: str | None = Field(examples=["America/New_York"])
    target_seconds: int = Field(examples=[14400])
    elapsed_business_seconds: float = Field(
        description="Business (or wall, for wall-time clocks) seconds counted so far, pauses excluded.",
        examples=[1800.0],
    )
    remaining_business_seconds: float | None = Field(
        description="Business seconds left on the target, negative when overdue; None once stopped.",
        examples=[12600.0],
    )
    paused: bool = Field(examples=[False])
    paused_seconds: float = Field(
        description="Wall seconds spent paused (including a pause in progress).", examples=[0.0]
    )
    next_step: str | None = Field(examples=["warning_80"])
    next_due_at: datetime | None = Field(examples=["2026-11-23T17:12:00Z"])
    history: list[StepRead] = Field(default_factory=list, description="Fired warnings, breach, escalations.")

    @classmethod
    def from_clock(cls, clock: SlaClock, *, now: datetime, steps: list[SlaStepRecord] | None = None) -> ClockRead:
        paused_seconds = clock.paused_seconds
        if clock.paused_at is not None and clock.is_active:
            paused_seconds += max(0.0, (now - clock.paused_at).total_seconds())
        return cls(
            clock_id=clock.clock_id,
            kind=clock.kind,
            policy=clock.policy,
            rep_id=clock.rep_id,
            state=clock.state,
            started_at=clock.started_at,
            due_at=clock.due_at,
            remaining_seconds=remaining_seconds(clock, now=now),
            breached_at=clock.breached_at,
            stopped_at=clock.stopped_at,
            met_late=clock.met_late,
            time="wall" if clock.calendar is None else "business",
            calendar_timezone=clock.calendar.timezone if clock.calendar else None,
            target_seconds=clock.target_seconds,
            elapsed_business_seconds=consumed_seconds(clock, at=clock.stopped_at or now),
            remaining_business_seconds=remaining_business_seconds(clock, now=now),
            paused=clock.is_paused,
            paused_seconds=paused_seconds,
            next_step=clock.next_step,
            next_due_at=clock.next_due_at,
            history=[StepRead(step=s.step, due_at=s.due_at, fired_at=s.fired_at) for s in steps or []],
        )


class LeadClocksRead(BaseModel):
    lead_id: str = Field(examples=["lead-42"])
    milestones: MilestonesRead
    clocks: list[ClockRead] = Field(description="Every clock the lead has had, oldest first.")

    @classmethod
    def from_lead(
        cls,
        lead_id: str,
        milestones: Milestones,
        clocks: list[SlaClock],
        *,
        now: datetime,
        steps: dict[str, list[SlaStepRecord]] | None = None,
    ) -> LeadClocksRead:
        steps = steps or {}
        return cls(
            lead_id=lead_id,
            milestones=MilestonesRead.model_validate(milestones, from_attributes=True),
            clocks=[ClockRead.from_clock(clock, now=now, steps=steps.get(clock.clock_id)) for clock in clocks],
        )


class ClockSummaryRead(BaseModel):
    as_of: datetime = Field(examples=[_AT])
    by_kind: dict[SlaClockKind, dict[ClockState, int]] = Field(
        description="Clock counts per kind and state; a kind that never had a clock is left out.",
        examples=[{"acceptance": {"running": 3, "breached": 1, "met": 12, "cancelled": 2}}],
    )


class AttainmentRowRead(BaseModel):
    group: str = Field(examples=["ana.ortiz"])
    clocks: int = Field(description="Clocks met in the period, plus those breached in it and still open.")
    on_time: int
    late: int
    attainment: float | None = Field(description="on_time / clocks.", examples=[0.92])
    p50_business_seconds: float | None
    p90_business_seconds: float | None
    p50_wall_seconds: float | None
    p90_wall_seconds: float | None

    @classmethod
    def from_row(cls, row: AttainmentRow) -> AttainmentRowRead:
        return cls.model_validate(row, from_attributes=True)


class AttainmentReportRead(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    kind: SlaClockKind | None
    rows: list[AttainmentRowRead]
