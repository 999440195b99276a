"""The SLA monitor's HTTP response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from baton_contracts.events import SlaClockKind
from baton_sla_monitor.rules import ClockState, Milestones, SlaClock, remaining_seconds

_AT = "2026-11-23T14:00:00Z"


class MilestonesRead(BaseModel):
    """When the lead first reached each milestone (None: not yet)."""

    mql_at: datetime | None = Field(examples=["2026-11-23T13:58:12Z"])
    assigned_at: datetime | None = Field(examples=[_AT])
    sal_at: datetime | None = Field(examples=[None])
    rejected_at: datetime | None = Field(examples=[None])
    first_response_at: datetime | None = Field(examples=[None])


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
        "None once it stopped.",
        examples=[5400.0],
    )
    breached_at: datetime | None = Field(examples=[None])
    stopped_at: datetime | None = Field(examples=[None])
    met_late: bool | None = Field(
        description="Set when the clock was met: true when after its due time.", examples=[None]
    )

    @classmethod
    def from_clock(cls, clock: SlaClock, *, now: datetime) -> ClockRead:
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
        )


class LeadClocksRead(BaseModel):
    lead_id: str = Field(examples=["lead-42"])
    milestones: MilestonesRead
    clocks: list[ClockRead] = Field(description="Every clock the lead has had, oldest first.")

    @classmethod
    def from_lead(
        cls, lead_id: str, milestones: Milestones, clocks: list[SlaClock], *, now: datetime
    ) -> LeadClocksRead:
        return cls(
            lead_id=lead_id,
            milestones=MilestonesRead.model_validate(milestones, from_attributes=True),
            clocks=[ClockRead.from_clock(clock, now=now) for clock in clocks],
        )


class ClockSummaryRead(BaseModel):
    as_of: datetime = Field(examples=[_AT])
    by_kind: dict[SlaClockKind, dict[ClockState, int]] = Field(
        description="Clock counts per kind and state; a kind that never had a clock is left out.",
        examples=[{"acceptance": {"running": 3, "breached": 1, "met": 12, "cancelled": 2}}],
    )
