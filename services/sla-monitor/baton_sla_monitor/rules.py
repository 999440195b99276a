"""Pure SLA rules: functions of (lifecycle change, clocks, definitions, now) that return decisions.

No I/O and no clock of their own. A clock carries everything it needs to schedule itself (its
target, resolved calendar and plan), copied from the definitions when it opened: changing the
definitions later never moves a running clock.

Steps. Every clock has an ordered plan of steps: a warning per configured percentage, the
breach at 100%, then the escalation ladder (each step a wall-time delay after the previous one,
the first after the breach) and optionally a reassignment request. Each step fires at most once
(`fired`), and the monitor stores a unique row per fired step. `next_step`/`next_due_at` is the
earliest unfired step; None while the clock is paused or stopped.

Pauses. A paused clock banks the business seconds it consumed (`consumed_seconds`) and counts
nothing until it resumes; the wall time it spent paused is kept in `paused_seconds`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from baton_contracts.definitions.base import known_zone
from baton_contracts.definitions.sla import Channel, EscalationTarget, SlaDefinitions, SlaPolicy
from baton_contracts.events import Assignee, LeadState, LifecycleChanged, SlaClockKind
from baton_sla_monitor.calendars import (
    Calendar,
    add_business_seconds,
    business_seconds_between,
    knows_country,
)


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

FIRST_RESPONSE_REASON = "first_response"
"""A lifecycle change with this reason (or `details.first_response: true`) records the rep's first response."""

RESPONDED_STATES = frozenset({LeadState.SQL, LeadState.OPPORTUNITY, LeadState.WON, LeadState.LOST})
"""Reaching these implies the rep has talked to the lead: they meet a first-response clock too."""

LEFT_FUNNEL = frozenset({LeadState.REJECTED, LeadState.DISQUALIFIED, LeadState.RECYCLED, LeadState.KNOWN})


@dataclass(frozen=True)
class ClockRule:
    """Which transition starts a kind of clock and which stop it as met.

    `restart_on_reassign`: entering `starts_on` again with another rep replaces the clock (the
    new rep gets a fresh target); otherwise the running clock keeps going and changes owner.
    A clock is cancelled by `cancelled_by` (None: any transition to another state). `opens`: the
    definitions have this kind of clock; when they drop it, clocks of the kind already running still
    stop as before (they would run to breach and escalate forever otherwise), and no new one opens.
    """

    kind: SlaClockKind
    starts_on: LeadState
    met_by: frozenset[LeadState]
    restart_on_reassign: bool
    cancelled_by: frozenset[LeadState] | None = None
    opens: bool = True


def clock_rules(sla: SlaDefinitions) -> tuple[ClockRule, ...]:
    return (
        ClockRule(
            SlaClockKind.ACCEPTANCE,
            starts_on=LeadState.ASSIGNED,
            met_by=frozenset({LeadState.SAL, LeadState.REJECTED}),
            restart_on_reassign=True,
        ),
        ClockRule(
            SlaClockKind.ASSIGNMENT,
            starts_on=LeadState.MQL,
            met_by=frozenset({LeadState.ASSIGNED}),
            restart_on_reassign=False,
            opens=sla.assignment is not None,
        ),
        ClockRule(
            SlaClockKind.FIRST_RESPONSE,
            starts_on=LeadState(sla.first_response_starts_on),
            met_by=RESPONDED_STATES,
            restart_on_reassign=False,
            cancelled_by=LEFT_FUNNEL,
            opens=sla.first_response is not None,
        ),
    )


@dataclass(frozen=True)
class Milestones:
    mql_at: datetime | None = None
    assigned_at: datetime | None = None
    sal_at: datetime | None = None
    rejected_at: datetime | None = None
    first_response_at: datetime | None = None


class StepKind(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    ESCALATION = "escalation"
    REASSIGN = "reassign"


@dataclass(frozen=True)
class LadderStep:
    target: EscalationTarget
    after_seconds: int
    channels: tuple[Channel, ...]


@dataclass(frozen=True)
class ClockPlan:
    """What a clock does as it runs, copied from the definitions when it opened."""

    warnings_percent: tuple[int, ...] = (80, 95)
    warning_channels: tuple[Channel, ...] = ()
    breach_channels: tuple[Channel, ...] = ()
    ladder: tuple[LadderStep, ...] = ()
    reassign_after_seconds: int | None = None
    """None: no reassignment request on breach."""


@dataclass(frozen=True)
class Step:
    name: str
    kind: StepKind
    due_at: datetime
    percent: int | None = None
    level: int | None = None
    target: EscalationTarget | None = None
    channels: tuple[Channel, ...] = ()

    @property
    def severity(self) -> str:
        """PagerDuty severities: warnings warn, a breach is an error, the on-call page is critical."""
        if self.kind == StepKind.WARNING:
            return "warning"
        if self.kind == StepKind.REASSIGN:
            return "info"
        return "critical" if self.target == "on_call" else "error"


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
    team_id: str | None = None
    manager_id: str | None = None
    segment: str | None = None
    intent: str | None = None
    source: str | None = None
    target_seconds: int = 0
    calendar: Calendar | None = None
    """None: wall time."""
    plan: ClockPlan = field(default_factory=ClockPlan)
    consumed_seconds: float = 0.0
    """Business seconds counted before `run_started_at` (i.e. before the last pause)."""
    run_started_at: datetime | None = None
    """When the current running stretch began; None while paused or stopped."""
    paused_at: datetime | None = None
    paused_seconds: float = 0.0
    fired: tuple[str, ...] = ()
    next_step: str | None = None
    next_due_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_paused(self) -> bool:
        return self.paused_at is not None and self.is_active


@dataclass(frozen=True)
class LifecycleDecision:
    milestones: tuple[Milestone, ...]
    """What the change reached: its state's milestone, a first response, or both (`assigned → sal` that
    reports the first response)."""
    stopped: tuple[SlaClock, ...]
    """Clocks after stopping (met or cancelled); one with fired steps resolves its alerts."""
    opened: tuple[SlaClock, ...]
    changed: tuple[SlaClock, ...] = ()
    """Active clocks that paused, resumed or changed owner."""
    first_response: bool = False


# --- policies and calendars -------------------------------------------------------------------


def policy_for(
    kind: SlaClockKind, sla: SlaDefinitions, *, segment: str | None = None, intent: str | None = None
) -> SlaPolicy | None:
    """The first `targets` entry matching kind, segment and intent, else the kind's default policy."""
    for override in sla.targets:
        if override.kind != kind:
            continue
        if override.segment is not None and override.segment != segment:
            continue
        if override.intent is not None and override.intent != intent:
            continue
        return override.policy
    defaults: dict[SlaClockKind, SlaPolicy | None] = {
        SlaClockKind.ACCEPTANCE: sla.acceptance,
        SlaClockKind.ASSIGNMENT: sla.assignment,
        SlaClockKind.FIRST_RESPONSE: sla.first_response,
    }
    return defaults[kind]


def calendar_for(policy: SlaPolicy, sla: SlaDefinitions, assignee: Assignee | None) -> Calendar | None:
    """The calendar a clock counts on: None for wall-time policies.

    Precedence: the policy's own calendar; the rep's `assignee.calendar`; the rep's team's calendar
    (`team_calendars`); `default_calendar`. Unless the policy or the rep names a calendar, the rep's
    own time zone and country (when the assignee states them) replace the calendar's; a zone this
    machine does not know, or a country whose holidays the `holidays` library does not have, leaves the
    calendar's own (the clock still runs: a bad value must not dead-letter the lead's lifecycle).
    """
    if policy.time == "wall":
        return None
    if policy.calendar is not None:
        return Calendar.from_definition(sla.calendars[policy.calendar])
    if assignee is not None and assignee.calendar is not None and assignee.calendar in sla.calendars:
        return Calendar.from_definition(sla.calendars[assignee.calendar])
    name = sla.default_calendar
    if assignee is not None and assignee.team_id is not None:
        name = sla.team_calendars.get(assignee.team_id, name)
    timezone = _usable(assignee.timezone if assignee else None, known_zone)
    country = _usable(assignee.country if assignee else None, knows_country)
    return Calendar.from_definition(sla.calendars[name], timezone=timezone, country=country)


def _usable(value: str | None, known: Callable[[str], bool]) -> str | None:
    return value if value and known(value) else None


def plan_for(kind: SlaClockKind, policy: SlaPolicy, sla: SlaDefinitions) -> ClockPlan:
    ladder = sla.escalations[policy.escalation or sla.default_escalation]
    reassign = ladder.reassign_on_breach and str(kind) in ladder.kinds
    return ClockPlan(
        warnings_percent=tuple(
            policy.warnings_percent if policy.warnings_percent is not None else sla.warnings_percent
        ),
        warning_channels=tuple(sla.alerting.warning_channels),
        breach_channels=tuple(sla.alerting.breach_channels),
        ladder=tuple(LadderStep(s.target, s.after_seconds, tuple(s.channels)) for s in ladder.steps),
        reassign_after_seconds=ladder.reassign_after_seconds if reassign else None,
    )


# --- scheduling --------------------------------------------------------------------------------


def schedule(clock: SlaClock) -> list[Step]:
    """Every step of the clock's plan with its due time, in firing order; [] while paused or stopped.

    Warnings and the breach are points in the clock's business time, so a pause moves them;
    escalation steps are wall-time delays after the breach (on-call works around the clock).
    """
    if not clock.is_active or clock.run_started_at is None:
        return []
    target = clock.target_seconds
    steps: list[Step] = []

    def at_fraction(fraction: float) -> datetime:
        owed = max(0.0, fraction * target - clock.consumed_seconds)
        return add_business_seconds(clock.calendar, clock.run_started_at, owed)  # type: ignore[arg-type]

    plan = clock.plan
    for percent in plan.warnings_percent:
        steps.append(
            Step(
                f"warning_{percent}",
                StepKind.WARNING,
                at_fraction(percent / 100),
                percent=percent,
                channels=plan.warning_channels,
            )
        )
    breach_at = clock.breached_at or at_fraction(1.0)
    steps.append(Step("breach", StepKind.BREACH, breach_at, percent=100, channels=plan.breach_channels))
    after = breach_at
    for level, rung in enumerate(plan.ladder, start=1):
        after = after + timedelta(seconds=rung.after_seconds)
        steps.append(
            Step(
                f"escalation_{level}",
                StepKind.ESCALATION,
                after,
                level=level,
                target=rung.target,
                channels=rung.channels,
            )
        )
    if plan.reassign_after_seconds is not None:
        steps.append(Step("reassign", StepKind.REASSIGN, breach_at + timedelta(seconds=plan.reassign_after_seconds)))
    return sorted(steps, key=lambda s: s.due_at)  # stable: ties keep plan order (warning, breach, ladder)


def with_next_step(clock: SlaClock) -> SlaClock:
    """Recompute `due_at` (while running unbreached) and the next unfired step."""
    if clock.is_active and clock.run_started_at is not None and clock.breached_at is None:
        owed = max(0.0, clock.target_seconds - clock.consumed_seconds)
        clock = replace(clock, due_at=add_business_seconds(clock.calendar, clock.run_started_at, owed))
    pending = next((s for s in schedule(clock) if s.name not in clock.fired), None)
    return replace(
        clock,
        next_step=pending.name if pending else None,
        next_due_at=pending.due_at if pending else None,
    )


def due_steps(clock: SlaClock, *, now: datetime) -> list[Step]:
    """Unfired steps due by `now`, in order (several when the monitor was down)."""
    return [s for s in schedule(clock) if s.name not in clock.fired and s.due_at <= now]


def fire(clock: SlaClock, step: Step, *, now: datetime) -> SlaClock:
    """Record `step` as fired; the breach step moves the clock to breached (at its due time, not `now`)."""
    if step.name in clock.fired:
        raise ValueError(f"step {step.name} of clock {clock.clock_id} has already fired")
    if not clock.is_active:
        raise ValueError(f"clock {clock.clock_id} is {clock.state}: step {step.name} cannot fire")
    fired = replace(clock, fired=(*clock.fired, step.name))
    if step.kind == StepKind.BREACH:
        fired = replace(fired, state=ClockState.BREACHED, breached_at=step.due_at)
    return with_next_step(fired)


# --- lifecycle ---------------------------------------------------------------------------------


def is_first_response(change: LifecycleChanged) -> bool:
    return change.reason == FIRST_RESPONSE_REASON or change.details.get("first_response") is True


def decide_lifecycle(
    *,
    change: LifecycleChanged,
    event_id: str,
    active: Sequence[SlaClock],
    sla: SlaDefinitions,
    reached: Milestones | None = None,
) -> LifecycleDecision:
    """What one lifecycle transition does to the lead's milestones and active clocks.

    `event_id` is the transition's CloudEvents id: the clock it opens is named after it, so a
    replayed transition finds its own clock already running and opens nothing. `reached`: the lead's
    milestones so far; a clock whose meeting milestone came at or after this transition (events
    applied out of order: `sal` before its `assigned`) is not opened, since nothing would meet it.
    """
    stopped: list[SlaClock] = []
    opened: list[SlaClock] = []
    changed: dict[str, SlaClock] = {}
    responded = is_first_response(change)
    state_changed = change.from_state != change.to_state
    for rule in clock_rules(sla):
        current = next((c for c in active if c.kind == rule.kind and c.is_active), None)
        met = change.to_state in rule.met_by or (rule.kind == SlaClockKind.FIRST_RESPONSE and responded)
        if met:
            if current is not None:
                stopped.append(meet(current, at=change.at))
            continue
        if change.to_state == rule.starts_on and (rule.opens or current is not None):
            if current is not None and (
                change.at < current.started_at
                or current.clock_id == clock_id_for(lead_id=change.lead_id, kind=rule.kind, cause_event_id=event_id)
            ):
                continue  # the event that opened the running clock, or an older one (a redriven dead letter)
            if current is None:
                new = (
                    None
                    if _met_already(rule.kind, reached, change.at)
                    else open_for(change, event_id=event_id, kind=rule.kind, sla=sla)
                )
                if new is not None:
                    opened.append(new)
            elif rule.restart_on_reassign and current.rep_id != change.rep_id:
                stopped.append(cancel(current, at=change.at))
                new = open_for(change, event_id=event_id, kind=rule.kind, sla=sla)
                if new is not None and new.clock_id != current.clock_id:
                    opened.append(new)
            elif current.rep_id != change.rep_id and change.rep_id is not None:
                changed[current.clock_id] = reown(current, change)
            continue
        if current is None or not state_changed:
            continue
        if rule.cancelled_by is None or change.to_state in rule.cancelled_by:
            stopped.append(cancel(current, at=change.at))
        elif current.rep_id != change.rep_id and change.rep_id is not None:
            changed[current.clock_id] = reown(current, change)
    stopped_ids = {c.clock_id for c in stopped}
    for condition in sla.pauses:
        for clock in [*active, *opened]:
            if clock.clock_id in stopped_ids or str(clock.kind) not in condition.kinds:
                continue
            latest = changed.get(clock.clock_id, clock)
            if change.reason in condition.pause_reasons and not latest.is_paused:
                paused = pause(latest, at=change.at)
                if clock in opened:
                    opened[opened.index(clock)] = paused
                else:
                    changed[clock.clock_id] = paused
            elif latest.is_paused and (change.reason in condition.resume_reasons or state_changed):
                changed[clock.clock_id] = resume(latest, at=change.at)  # a resume reason, or any change of state
    return LifecycleDecision(
        milestones=tuple(
            m
            for m in (
                Milestone.FIRST_RESPONSE if responded else None,
                MILESTONE_REACHED_BY.get(change.to_state) if state_changed or not responded else None,
            )
            if m is not None
        ),
        stopped=tuple(stopped),
        opened=tuple(opened),
        changed=tuple(changed.values()),
        first_response=responded,
    )


MET_BY_MILESTONES: dict[SlaClockKind, tuple[str, ...]] = {
    SlaClockKind.ASSIGNMENT: ("assigned_at",),
    SlaClockKind.ACCEPTANCE: ("sal_at", "rejected_at"),
    SlaClockKind.FIRST_RESPONSE: ("first_response_at",),
}


def _met_already(kind: SlaClockKind, reached: Milestones | None, at: datetime) -> bool:
    """Whether a milestone that meets a clock of `kind` was reached at or after `at`."""
    if reached is None:
        return False
    return any((moment := getattr(reached, name)) is not None and moment >= at for name in MET_BY_MILESTONES[kind])


def decide_first_response(*, at: datetime, active: Sequence[SlaClock]) -> LifecycleDecision:
    """The CRM reported the rep's first response (`baton.lead.first_response_recorded`): meet the lead's
    first-response clock, if one is running, and record the milestone."""
    stopped = tuple(meet(c, at=at) for c in active if c.kind == SlaClockKind.FIRST_RESPONSE and c.is_active)
    return LifecycleDecision(milestones=(Milestone.FIRST_RESPONSE,), stopped=stopped, opened=(), first_response=True)


def record_milestone(milestones: Milestones, milestone: Milestone, *, at: datetime) -> Milestones:
    """Set once: the earliest time wins, so a late or replayed transition never moves a milestone."""
    name = f"{milestone}_at"
    current: datetime | None = getattr(milestones, name)
    return replace(milestones, **{name: at if current is None else min(current, at)})


def clock_id_for(*, lead_id: str, kind: SlaClockKind, cause_event_id: str) -> str:
    return f"{lead_id}:{kind}:{cause_event_id}"


def open_for(change: LifecycleChanged, *, event_id: str, kind: SlaClockKind, sla: SlaDefinitions) -> SlaClock | None:
    policy = policy_for(kind, sla, segment=change.segment, intent=change.intent)
    if policy is None:
        return None
    assignee = change.assignee
    source = change.details.get("source")
    return open_clock(
        lead_id=change.lead_id,
        kind=kind,
        policy=policy,
        rep_id=change.rep_id or (assignee.rep_id if assignee else None),
        at=change.at,
        cause_event_id=event_id,
        calendar=calendar_for(policy, sla, assignee),
        plan=plan_for(kind, policy, sla),
        team_id=assignee.team_id if assignee else None,
        manager_id=assignee.manager_id if assignee else None,
        segment=change.segment,
        intent=change.intent,
        source=source if isinstance(source, str) else None,
    )


def open_clock(
    *,
    lead_id: str,
    kind: SlaClockKind,
    policy: SlaPolicy,
    rep_id: str | None,
    at: datetime,
    cause_event_id: str,
    calendar: Calendar | None = None,
    plan: ClockPlan | None = None,
    team_id: str | None = None,
    manager_id: str | None = None,
    segment: str | None = None,
    intent: str | None = None,
    source: str | None = None,
) -> SlaClock:
    """A running clock. A business-time clock opened out of hours is due counted from the next opening."""
    clock = SlaClock(
        clock_id=clock_id_for(lead_id=lead_id, kind=kind, cause_event_id=cause_event_id),
        lead_id=lead_id,
        kind=kind,
        policy=policy.name,
        rep_id=rep_id,
        started_at=at,
        due_at=at,
        team_id=team_id,
        manager_id=manager_id,
        segment=segment,
        intent=intent,
        source=source,
        target_seconds=policy.target_seconds,
        calendar=calendar,
        plan=plan or ClockPlan(),
        run_started_at=at,
    )
    return with_next_step(clock)


def reown(clock: SlaClock, change: LifecycleChanged) -> SlaClock:
    assignee = change.assignee
    return replace(
        clock,
        rep_id=change.rep_id,
        team_id=assignee.team_id if assignee else clock.team_id,
        manager_id=assignee.manager_id if assignee else clock.manager_id,
    )


def pause(clock: SlaClock, *, at: datetime) -> SlaClock:
    if clock.is_paused or not clock.is_active or clock.run_started_at is None:
        return clock
    consumed = clock.consumed_seconds + business_seconds_between(clock.calendar, clock.run_started_at, at)
    return with_next_step(replace(clock, consumed_seconds=consumed, run_started_at=None, paused_at=at))


def resume(clock: SlaClock, *, at: datetime) -> SlaClock:
    if not clock.is_paused or clock.paused_at is None:
        return clock
    paused = clock.paused_seconds + max(0.0, (at - clock.paused_at).total_seconds())
    return with_next_step(
        replace(clock, paused_seconds=paused, paused_at=None, run_started_at=max(at, clock.paused_at))
    )


def meet(clock: SlaClock, *, at: datetime) -> SlaClock:
    """Stop an active clock as met; late when handled after its due time. By the time of the event, not
    the clock's state: a breach the timer fired before a lagging consumer applied an earlier `sal` does
    not make that `sal` late."""
    consumed = consumed_seconds(clock, at=at)
    late = consumed > clock.target_seconds or (clock.paused_at is None and at > clock.due_at)
    return _stop(clock, state=ClockState.MET, at=at, met_late=late)


def cancel(clock: SlaClock, *, at: datetime) -> SlaClock:
    return _stop(clock, state=ClockState.CANCELLED, at=at, met_late=None)


def _stop(clock: SlaClock, *, state: ClockState, at: datetime, met_late: bool | None) -> SlaClock:
    consumed = consumed_seconds(clock, at=at)
    paused = clock.paused_seconds + (max(0.0, (at - clock.paused_at).total_seconds()) if clock.paused_at else 0.0)
    return replace(
        clock,
        state=state,
        stopped_at=at,
        met_late=met_late,
        consumed_seconds=consumed,
        paused_seconds=paused,
        run_started_at=None,
        paused_at=None,
        next_step=None,
        next_due_at=None,
    )


def consumed_seconds(clock: SlaClock, *, at: datetime) -> float:
    """Business (or wall, for wall-time policies) seconds the clock has counted by `at`."""
    if clock.run_started_at is None:
        return clock.consumed_seconds
    return clock.consumed_seconds + business_seconds_between(clock.calendar, clock.run_started_at, at)


def is_due(clock: SlaClock, *, now: datetime) -> bool:
    return clock.next_due_at is not None and clock.next_due_at <= now


def elapsed_seconds(clock: SlaClock, *, at: datetime) -> float:
    """Wall seconds from start to `at`."""
    return max(0.0, (at - clock.started_at).total_seconds())


def remaining_seconds(clock: SlaClock, *, now: datetime) -> float | None:
    """Seconds until due (negative when overdue) while the clock runs; None once stopped, and while
    paused (the due time moves when it resumes: `remaining_business_seconds` is what is left)."""
    return (clock.due_at - now).total_seconds() if clock.is_active and not clock.is_paused else None


def remaining_business_seconds(clock: SlaClock, *, now: datetime) -> float | None:
    """Business seconds left on the target (negative when overdue); None once stopped."""
    if not clock.is_active:
        return None
    return clock.target_seconds - consumed_seconds(clock, at=now)


def step_severity(plan: ClockPlan, step_name: str) -> str:
    """The severity a fired step alerted with (a resolve must repeat it: Alertmanager matches on labels)."""
    if step_name.startswith("warning_"):
        return "warning"
    if step_name.startswith("escalation_"):
        level = int(step_name.removeprefix("escalation_"))
        on_call = level <= len(plan.ladder) and plan.ladder[level - 1].target == "on_call"
        return "critical" if on_call else "error"
    return "info" if step_name == "reassign" else "error"


def alerted_steps(clock: SlaClock) -> tuple[str, ...]:
    """Fired steps that raised an alert somewhere: resolved when the clock stops."""
    return tuple(s for s in clock.fired if not s.startswith("reassign"))
