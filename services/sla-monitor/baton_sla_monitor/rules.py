"""Pure SLA rules: functions of (lifecycle change, clocks, definitions, now) that return decisions.

No I/O and no clock of their own. Due times are wall-clock for now: business calendars slot in
behind `due_time`, warnings and escalation ladders as new decisions on an active clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from baton_contracts.definitions import SlaDefinitions, SlaPolicy
from baton_contracts.events import LeadState, LifecycleChanged, SlaClockKind


class ClockState(StrEnum):
    RUNNING = "running"
    BREACHED = "breached"
    """Past due and not yet handled: an open alert."""
    MET = "met"
    CANCELLED = "cancelled"
    """No longer applies: the lead was reassigned or left the stage the clock watches."""


ACTIVE_STATES = frozenset({ClockState.RUNNING, ClockState.BREACHED})


class Milestone(StrEnum):
    MQL = "mql"
    ASSIGNED = "assigned"
    SAL = "sal"
    REJECTED = "rejected"
    FIRST_RESPONSE = "first_response"


MILESTONE_REACHED_BY: dict[LeadState, Milestone] = {
    LeadState.MQL: Milestone.MQL,
    LeadState.ASSIGNED: Milestone.ASSIGNED,
    LeadState.SAL: Milestone.SAL,
    LeadState.REJECTED: Milestone.REJECTED,
}


@dataclass(frozen=True)
class ClockRule:
    """Which transition starts a kind of clock and which stop it as met.

    The clock watches the `starts_on` state: entering it again (a reassignment) replaces the
    clock, and any other transition out of it cancels the clock.
    """

    kind: SlaClockKind
    starts_on: LeadState
    met_by: frozenset[LeadState]


CLOCK_RULES: tuple[ClockRule, ...] = (
    ClockRule(
        SlaClockKind.ACCEPTANCE, starts_on=LeadState.ASSIGNED, met_by=frozenset({LeadState.SAL, LeadState.REJECTED})
    ),
)


@dataclass(frozen=True)
class Milestones:
    mql_at: datetime | None = None
    assigned_at: datetime | None = None
    sal_at: datetime | None = None
    rejected_at: datetime | None = None
    first_response_at: datetime | None = None


@dataclass(frozen=True)
class SlaClock:
    clock_id: str
    lead_id: str
    kind: SlaClockKind
    policy: str
    rep_id: str | None
    started_at: datetime
    due_at: datetime
    state: ClockState = ClockState.RUNNING
    breached_at: datetime | None = None
    stopped_at: datetime | None = None
    met_late: bool | None = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES


@dataclass(frozen=True)
class LifecycleDecision:
    milestone: Milestone | None
    stopped: tuple[SlaClock, ...]
    """Clocks after stopping (met or cancelled); one with `breached_at` set resolves its alert."""
    opened: tuple[SlaClock, ...]


def decide_lifecycle(
    *, change: LifecycleChanged, event_id: str, active: Sequence[SlaClock], sla: SlaDefinitions
) -> LifecycleDecision:
    """What one lifecycle transition does to the lead's milestones and active clocks.

    `event_id` is the transition's CloudEvents id: the clock it opens is named after it, so a
    replayed transition finds its own clock already running and opens nothing.
    """
    stopped: list[SlaClock] = []
    opened: list[SlaClock] = []
    for rule in CLOCK_RULES:
        current = next((c for c in active if c.kind == rule.kind and c.is_active), None)
        if change.to_state in rule.met_by:
            if current is not None:
                stopped.append(meet(current, at=change.at))
        elif change.to_state == rule.starts_on:
            new = open_clock(
                lead_id=change.lead_id,
                kind=rule.kind,
                policy=policy_for(rule.kind, sla),
                rep_id=change.rep_id,
                at=change.at,
                cause_event_id=event_id,
            )
            if current is None:
                opened.append(new)
            elif current.clock_id != new.clock_id and current.rep_id != new.rep_id:
                stopped.append(cancel(current, at=change.at))
                opened.append(new)
        elif current is not None:
            stopped.append(cancel(current, at=change.at))
    return LifecycleDecision(
        milestone=MILESTONE_REACHED_BY.get(change.to_state), stopped=tuple(stopped), opened=tuple(opened)
    )


def record_milestone(milestones: Milestones, milestone: Milestone, *, at: datetime) -> Milestones:
    """Set once: the earliest time wins, so a late or replayed transition never moves a milestone."""
    field = f"{milestone}_at"
    current: datetime | None = getattr(milestones, field)
    return replace(milestones, **{field: at if current is None else min(current, at)})


def policy_for(kind: SlaClockKind, sla: SlaDefinitions) -> SlaPolicy:
    if kind == SlaClockKind.ACCEPTANCE:
        return sla.acceptance
    raise ValueError(f"the definitions have no SLA policy for {kind} clocks")


def clock_id_for(*, lead_id: str, kind: SlaClockKind, cause_event_id: str) -> str:
    return f"{lead_id}:{kind}:{cause_event_id}"


def due_time(*, started_at: datetime, policy: SlaPolicy) -> datetime:
    """Wall-clock: `started_at` plus the policy's target (business calendars come later)."""
    return started_at + timedelta(seconds=policy.target_seconds)


def open_clock(
    *, lead_id: str, kind: SlaClockKind, policy: SlaPolicy, rep_id: str | None, at: datetime, cause_event_id: str
) -> SlaClock:
    return SlaClock(
        clock_id=clock_id_for(lead_id=lead_id, kind=kind, cause_event_id=cause_event_id),
        lead_id=lead_id,
        kind=kind,
        policy=policy.name,
        rep_id=rep_id,
        started_at=at,
        due_at=due_time(started_at=at, policy=policy),
    )


def meet(clock: SlaClock, *, at: datetime) -> SlaClock:
    """Stop an active clock as met; late when handled after its due time or already breached."""
    late = clock.state == ClockState.BREACHED or at > clock.due_at
    return replace(clock, state=ClockState.MET, stopped_at=at, met_late=late)


def cancel(clock: SlaClock, *, at: datetime) -> SlaClock:
    return replace(clock, state=ClockState.CANCELLED, stopped_at=at)


def is_due(clock: SlaClock, *, now: datetime) -> bool:
    return clock.state == ClockState.RUNNING and clock.due_at <= now


def breach(clock: SlaClock, *, now: datetime) -> SlaClock:
    if not is_due(clock, now=now):
        raise ValueError(f"clock {clock.clock_id} is {clock.state}, due {clock.due_at}: it cannot breach at {now}")
    return replace(clock, state=ClockState.BREACHED, breached_at=now)


def elapsed_seconds(clock: SlaClock, *, at: datetime) -> float:
    return max(0.0, (at - clock.started_at).total_seconds())


def remaining_seconds(clock: SlaClock, *, now: datetime) -> float | None:
    """Seconds until due (negative when overdue) while the clock is active; None once stopped."""
    return (clock.due_at - now).total_seconds() if clock.is_active else None
