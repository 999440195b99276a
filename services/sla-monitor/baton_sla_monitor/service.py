"""Apply lifecycle changes to milestones and clocks; fire due steps. Runs inside the caller's
transaction and never commits: events leave through the outbox, alerts through the deliveries
table, metrics move after commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields, replace
from datetime import date, datetime
from typing import Any

import structlog
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic, new_event
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import (
    EventType,
    LifecycleChanged,
    SlaAlertResolved,
    SlaClockBreached,
    SlaClockCancelled,
    SlaClockEscalated,
    SlaClockKind,
    SlaClockMet,
    SlaClockStarted,
    SlaClockWarned,
    SlaReassignRequested,
)
from baton_kit.db import after_commit
from baton_kit.outbox import Outbox
from baton_sla_monitor.calendars import Calendar
from baton_sla_monitor.models import AlertDelivery, DeliveryState, LeadMilestones, SlaClockRecord, SlaStepRecord
from baton_sla_monitor.rules import (
    ACTIVE_STATES,
    ClockPlan,
    ClockState,
    LadderStep,
    Milestone,
    Milestones,
    SlaClock,
    Step,
    StepKind,
    alerted_steps,
    decide_first_response,
    decide_lifecycle,
    due_steps,
    elapsed_seconds,
    fire,
    record_milestone,
    step_severity,
    with_next_step,
)

SOURCE = "/baton/sla-monitor"
_EVENT_IDS = uuid.UUID("5b0f6c3e-2d44-4c8e-9a51-7c1f0e6b9d21")
RESOLVE_PER_STEP = frozenset({"pagerduty", "alertmanager"})
"""Channels that hold one alert per step (resolved each by its key); the others get one message per clock."""

log = structlog.get_logger(__name__)

OPEN_CLOCKS = Gauge(
    "baton_sla_monitor_open_clocks",
    "Clocks running or breached and not yet handled, counted in the shared clocks table (every instance reports "
    "the same value).",
    ["kind", "policy"],
)
CLOCKS_WARNED = Counter(
    "baton_sla_monitor_clocks_warned_total", "Pre-breach warnings fired.", ["kind", "policy", "percent"]
)
CLOCKS_BREACHED = Counter(
    "baton_sla_monitor_clocks_breached_total", "Clocks that passed their due time unhandled.", ["kind", "policy"]
)
CLOCKS_ESCALATED = Counter(
    "baton_sla_monitor_clocks_escalated_total", "Escalation ladder steps fired.", ["kind", "policy", "target"]
)
REASSIGNS_REQUESTED = Counter(
    "baton_sla_monitor_reassigns_requested_total", "Reassignments requested from handoff on breach.", ["policy"]
)
CLOCKS_MET = Counter(
    "baton_sla_monitor_clocks_met_total",
    "Clocks stopped by the lead being handled; late=true when after the due time (also counted in breached). "
    "Attainment is met{late=false} / (met{late=false} + breached).",
    ["kind", "policy", "late"],
)
_TIME_BUCKETS = (30, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800, 604800)
TIME_TO_ACCEPT = Histogram(
    "baton_sla_monitor_time_to_accept_seconds",
    "Assignment to acceptance/rejection, in business and wall seconds.",
    ["basis"],
    buckets=_TIME_BUCKETS,
)
TIME_TO_FIRST_RESPONSE = Histogram(
    "baton_sla_monitor_time_to_first_response_seconds",
    "Clock start to the rep's first response, in business and wall seconds.",
    ["basis"],
    buckets=_TIME_BUCKETS,
)
STEP_DELAY = Histogram(
    "baton_sla_monitor_step_fire_delay_seconds",
    "How late a warning, breach or escalation fired after its due time.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 60),
)


@dataclass
class Fired:
    clock: SlaClock
    step: Step
    at: datetime


# --- lifecycle -------------------------------------------------------------------------------


async def apply_lifecycle(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    on_clock_opened: Callable[[], None],
) -> None:
    """Record milestones, open, pause, resume and stop clocks, and emit their `sla.events`.

    The lead's active clocks are read `FOR UPDATE`, so a timer firing one at the same moment is
    waited for, not overwritten. A stopped clock that had alerted queues a resolve for every
    channel it alerted. `on_clock_opened` runs after commit when a clock opened or changed.
    """
    stopped_all: list[SlaClock] = []
    wake = False
    for cloud_event in events:
        if cloud_event.type not in (EventType.LIFECYCLE_CHANGED, EventType.FIRST_RESPONSE_RECORDED):
            continue
        lead_id: str = cloud_event.data.lead_id
        active_rows = {
            row.clock_id: row
            for row in await session.scalars(
                select(SlaClockRecord)
                .where(SlaClockRecord.lead_id == lead_id, SlaClockRecord.state.in_(ACTIVE_STATES))
                .with_for_update()
            )
        }
        active = [snapshot(row) for row in active_rows.values()]
        if cloud_event.type == EventType.FIRST_RESPONSE_RECORDED:
            at: datetime = cloud_event.data.occurred_at
            decision = decide_first_response(at=at, active=active)
            transition, reason = "first_response", "first_response"
        else:
            change: LifecycleChanged = cloud_event.data
            at = change.at
            stored = await session.get(LeadMilestones, lead_id, with_for_update=True)
            reached = Milestones(**{f.name: getattr(stored, f.name) for f in fields(Milestones)}) if stored else None
            decision = decide_lifecycle(
                change=change, event_id=cloud_event.id, sla=definitions.definitions.sla, active=active, reached=reached
            )
            transition, reason = f"{change.from_state or 'none'}->{change.to_state}", change.reason
        await _record_milestones(session, lead_id=lead_id, milestones=decision.milestones, at=at)
        for clock in decision.stopped:
            copy_to_row(clock, active_rows[clock.clock_id])
            await _emit_stop(session, outbox=outbox, clock=clock, now=now, reason=transition)
            stopped_all.append(clock)
        for clock in decision.changed:
            copy_to_row(clock, active_rows[clock.clock_id])
            wake = True
        if decision.stopped:
            await session.flush()  # a stopped clock leaves the one-active-clock-per-kind index before its successor
        for clock in decision.opened:
            if await session.get(SlaClockRecord, clock.clock_id) is not None:
                continue  # a replayed transition whose clock has since stopped
            row = SlaClockRecord(clock_id=clock.clock_id, definitions_version=definitions.version)
            copy_to_row(clock, row)
            session.add(row)
            await _emit(
                session,
                outbox=outbox,
                event_type=EventType.SLA_CLOCK_STARTED,
                clock=clock,
                data=SlaClockStarted(**_clock_data(clock)),
                at=clock.started_at,
                now=now,
            )
            wake = True
        log.info(
            "lifecycle change applied",
            event_id=cloud_event.id,
            lead_id=lead_id,
            transition=transition,
            reason=reason,
            opened=[c.clock_id for c in decision.opened],
            stopped={c.clock_id: c.state for c in decision.stopped},
            changed=[c.clock_id for c in decision.changed],
        )
    if stopped_all or wake:
        after_commit(session, lambda: _after_lifecycle_commit(stopped_all, wake=wake, on_wake=on_clock_opened))


# --- the timer's pass --------------------------------------------------------------------------


async def fire_due_steps(session: AsyncSession, *, outbox: Outbox, now: datetime, limit: int) -> list[Fired]:
    """Fire every due step of up to `limit` clocks, emitting its event and queueing its alerts.

    Two monitors never fire one step twice: clock rows are claimed `FOR UPDATE SKIP LOCKED` on
    PostgreSQL (SQLite ignores it; its `BEGIN IMMEDIATE` write lock serialises instead), the step
    is recorded in the clock's `fired` list, and its row in `sla_clock_steps` has (clock, step) as
    primary key, so a bug that tried twice would fail the transaction rather than page twice.
    Callers count the fired steps after their commit.
    """
    rows = await session.scalars(
        select(SlaClockRecord)
        .where(SlaClockRecord.next_due_at <= now)
        .order_by(SlaClockRecord.next_due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    fired: list[Fired] = []
    batch: list[tuple[str, str, bytes]] = []
    for row in rows:
        clock = snapshot(row)
        steps = due_steps(clock, now=now)
        if not steps:  # a stale next_due_at (cannot happen through the rules): reschedule, never spin
            clock = with_next_step(clock)
            if clock.next_due_at is not None and clock.next_due_at <= now:
                log.error("sla clock has a due step the rules cannot fire; parking it", clock_id=clock.clock_id)
                clock = replace(clock, next_due_at=None)
        for step in steps:
            clock = fire(clock, step, now=now)
            session.add(
                SlaStepRecord(
                    clock_id=clock.clock_id, step=step.name, lead_id=clock.lead_id, due_at=step.due_at, fired_at=now
                )
            )
            _emit_step(batch, clock=clock, step=step, now=now)
            await queue_alerts(session, clock=clock, step=step, action="trigger", now=now)
            fired.append(Fired(clock=clock, step=step, at=now))
        copy_to_row(clock, row)
    await outbox.add_many(session, topic=Topic.SLA_EVENTS, rows=batch, now=now)  # one INSERT for the batch
    return fired


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest due time of any unfired step."""
    due: datetime | None = await session.scalar(select(func.min(SlaClockRecord.next_due_at)))
    return due


def count_fired(fired: Iterable[Fired]) -> None:
    for item in fired:
        clock, step = item.clock, item.step
        STEP_DELAY.observe(max(0.0, (item.at - step.due_at).total_seconds()))
        if step.kind == StepKind.WARNING:
            CLOCKS_WARNED.labels(kind=clock.kind, policy=clock.policy, percent=str(step.percent)).inc()
        elif step.kind == StepKind.BREACH:
            CLOCKS_BREACHED.labels(kind=clock.kind, policy=clock.policy).inc()
        elif step.kind == StepKind.ESCALATION:
            CLOCKS_ESCALATED.labels(kind=clock.kind, policy=clock.policy, target=str(step.target)).inc()
        else:
            REASSIGNS_REQUESTED.labels(policy=clock.policy).inc()
        log.info(
            "sla step fired",
            lead_id=clock.lead_id,
            clock_id=clock.clock_id,
            step=step.name,
            due_at=step.due_at.isoformat(),
            delay_seconds=round((item.at - step.due_at).total_seconds(), 3),
        )


# --- alerts ------------------------------------------------------------------------------------


def step_channels(plan: ClockPlan, step_name: str) -> tuple[str, ...]:
    if step_name.startswith("warning_"):
        return plan.warning_channels
    if step_name == "breach":
        return plan.breach_channels
    if step_name.startswith("escalation_"):
        level = int(step_name.removeprefix("escalation_"))
        return plan.ladder[level - 1].channels if level <= len(plan.ladder) else ()
    return ()


def alert_for(
    clock: SlaClock,
    *,
    step: str,
    action: str,
    at: datetime,
    step_due_at: datetime | None,
    severity: str,
    target: str | None,
) -> dict[str, Any]:
    """The channel-neutral alert a delivery carries; channel adapters format it."""
    return {
        "dedup_key": f"baton-sla/{clock.clock_id}/{step}",
        "action": action,
        "clock_id": clock.clock_id,
        "lead_id": clock.lead_id,
        "kind": str(clock.kind),
        "policy": clock.policy,
        "rep_id": clock.rep_id,
        "team_id": clock.team_id,
        "manager_id": clock.manager_id,
        "step": step,
        "severity": severity,
        "target": target,
        "due_at": clock.due_at.isoformat(),
        "step_due_at": step_due_at.isoformat() if step_due_at else None,
        "at": at.isoformat(),
        "state": str(clock.state),
    }


async def queue_alerts(session: AsyncSession, *, clock: SlaClock, step: Step, action: str, now: datetime) -> None:
    for channel in step.channels:
        alert = alert_for(
            clock,
            step=step.name,
            action=action,
            at=now,
            step_due_at=step.due_at,
            severity=step.severity,
            target=step.target,
        )
        await _add_delivery(
            session, channel=channel, clock=clock, step=step.name, action=action, alert=alert, now=now, fresh=True
        )


async def queue_resolves(session: AsyncSession, *, clock: SlaClock, now: datetime) -> None:
    """Resolve every alert the clock raised: per step on PagerDuty/Alertmanager, once per clock elsewhere."""
    assert clock.stopped_at is not None
    per_clock: set[str] = set()
    for step in alerted_steps(clock):
        for channel in step_channels(clock.plan, step):
            if channel in RESOLVE_PER_STEP:
                alert = alert_for(
                    clock,
                    step=step,
                    action="resolve",
                    at=clock.stopped_at,
                    step_due_at=None,
                    severity=step_severity(clock.plan, step),
                    target=None,
                )
                await _add_delivery(
                    session, channel=channel, clock=clock, step=step, action="resolve", alert=alert, now=now
                )
            else:
                per_clock.add(channel)
    for channel in sorted(per_clock):
        alert = alert_for(
            clock,
            step="resolved",
            action="resolve",
            at=clock.stopped_at,
            step_due_at=None,
            severity="info",
            target=None,
        )
        await _add_delivery(session, channel=channel, clock=clock, step="clock", action="resolve", alert=alert, now=now)


async def _add_delivery(
    session: AsyncSession,
    *,
    channel: str,
    clock: SlaClock,
    step: str,
    action: str,
    alert: dict[str, Any],
    now: datetime,
    fresh: bool = False,
) -> None:
    """`fresh`: the caller knows the row cannot exist (a step firing for the first time), so skip the lookup."""
    delivery_id = f"{channel}/{clock.clock_id}/{step}/{action}"
    if not fresh and await session.get(AlertDelivery, delivery_id) is not None:
        return
    session.add(
        AlertDelivery(
            delivery_id=delivery_id,
            channel=channel,
            action=action,
            alert=alert,
            state=DeliveryState.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
    )


# --- reads -------------------------------------------------------------------------------------


async def count_clocks(session: AsyncSession) -> dict[tuple[SlaClockKind, ClockState], int]:
    rows = await session.execute(
        select(SlaClockRecord.kind, SlaClockRecord.state, func.count()).group_by(
            SlaClockRecord.kind, SlaClockRecord.state
        )
    )
    return {(kind, state): count for kind, state, count in rows}


async def count_open_by_policy(session: AsyncSession) -> dict[tuple[SlaClockKind, str], int]:
    rows = await session.execute(
        select(SlaClockRecord.kind, SlaClockRecord.policy, func.count())
        .where(SlaClockRecord.state.in_(ACTIVE_STATES))
        .group_by(SlaClockRecord.kind, SlaClockRecord.policy)
    )
    return {(kind, policy): count for kind, policy, count in rows}


_open_series: set[tuple[str, str]] = set()


def set_open_clocks(counts: dict[tuple[SlaClockKind, str], int]) -> None:
    for kind, policy in _open_series - {(str(k), p) for k, p in counts}:
        OPEN_CLOCKS.labels(kind=kind, policy=policy).set(0)
    for (kind, policy), count in counts.items():
        OPEN_CLOCKS.labels(kind=kind, policy=policy).set(count)
        _open_series.add((str(kind), policy))


async def lead_clocks(
    session: AsyncSession, *, lead_id: str
) -> tuple[Milestones, list[SlaClock], dict[str, list[SlaStepRecord]]] | None:
    """A lead's milestones, every clock it has had (oldest first) and their fired steps; None when no
    transition was seen."""
    row = await session.get(LeadMilestones, lead_id)
    if row is None:
        return None
    clocks = await session.scalars(
        select(SlaClockRecord)
        .where(SlaClockRecord.lead_id == lead_id)
        .order_by(SlaClockRecord.started_at, SlaClockRecord.clock_id)
    )
    steps: dict[str, list[SlaStepRecord]] = {}
    for step in await session.scalars(
        select(SlaStepRecord).where(SlaStepRecord.lead_id == lead_id).order_by(SlaStepRecord.due_at)
    ):
        steps.setdefault(step.clock_id, []).append(step)
    milestones = Milestones(**{f.name: getattr(row, f.name) for f in fields(Milestones)})
    return milestones, [snapshot(clock) for clock in clocks], steps


async def clocks_for_report(
    session: AsyncSession, *, since: datetime, until: datetime, kind: SlaClockKind | None = None
) -> list[SlaClock]:
    """Clocks met in [since, until), and clocks that breached in it and are still open."""
    met = (
        (SlaClockRecord.state == ClockState.MET)
        & (SlaClockRecord.stopped_at >= since)
        & (SlaClockRecord.stopped_at < until)
    )
    open_breached = (
        (SlaClockRecord.state == ClockState.BREACHED)
        & (SlaClockRecord.breached_at >= since)
        & (SlaClockRecord.breached_at < until)
    )
    query = select(SlaClockRecord).where(met | open_breached)
    if kind is not None:
        query = query.where(SlaClockRecord.kind == kind)
    return [snapshot(row) for row in await session.scalars(query)]


# --- rows <-> clocks ---------------------------------------------------------------------------

_PLAIN = (
    "clock_id",
    "lead_id",
    "kind",
    "policy",
    "rep_id",
    "started_at",
    "due_at",
    "state",
    "breached_at",
    "stopped_at",
    "met_late",
    "team_id",
    "manager_id",
    "segment",
    "intent",
    "source",
    "target_seconds",
    "consumed_seconds",
    "run_started_at",
    "paused_at",
    "paused_seconds",
    "next_step",
    "next_due_at",
)


def snapshot(row: SlaClockRecord) -> SlaClock:
    values = {name: getattr(row, name) for name in _PLAIN}
    return SlaClock(
        **values,
        calendar=calendar_from_json(row.calendar),
        plan=plan_from_json(row.plan),
        fired=tuple(row.fired or ()),
    )


def copy_to_row(clock: SlaClock, row: SlaClockRecord) -> None:
    for name in _PLAIN:
        setattr(row, name, getattr(clock, name))
    row.calendar = calendar_to_json(clock.calendar)
    row.plan = plan_to_json(clock.plan)
    row.fired = list(clock.fired)


def calendar_to_json(calendar: Calendar | None) -> dict[str, Any] | None:
    if calendar is None:
        return None
    return {
        "timezone": calendar.timezone,
        "country": calendar.country,
        "subdivision": calendar.subdivision,
        "days": sorted(calendar.days),
        "start_minute": calendar.start_minute,
        "end_minute": calendar.end_minute,
        "closed": sorted(d.isoformat() for d in calendar.closed),
    }


def calendar_from_json(value: dict[str, Any] | None) -> Calendar | None:
    if value is None:
        return None
    return Calendar(
        timezone=value["timezone"],
        country=value.get("country"),
        subdivision=value.get("subdivision"),
        days=frozenset(value["days"]),
        start_minute=value["start_minute"],
        end_minute=value["end_minute"],
        closed=frozenset(date.fromisoformat(d) for d in value.get("closed", ())),
    )


def plan_to_json(plan: ClockPlan) -> dict[str, Any]:
    return asdict(plan)


def plan_from_json(value: dict[str, Any] | None) -> ClockPlan:
    if value is None:  # a foundation clock: breach only
        return ClockPlan(warnings_percent=())
    return ClockPlan(
        warnings_percent=tuple(value["warnings_percent"]),
        warning_channels=tuple(value["warning_channels"]),
        breach_channels=tuple(value["breach_channels"]),
        ladder=tuple(LadderStep(s["target"], s["after_seconds"], tuple(s["channels"])) for s in value["ladder"]),
        reassign_after_seconds=value["reassign_after_seconds"],
    )


# --- internals ---------------------------------------------------------------------------------


async def _record_milestones(
    session: AsyncSession, *, lead_id: str, milestones: tuple[Milestone, ...], at: datetime
) -> None:
    row = await session.get(LeadMilestones, lead_id, with_for_update=True)
    if row is None:
        row = LeadMilestones(lead_id=lead_id)
        session.add(row)
    updated = Milestones(**{f.name: getattr(row, f.name) for f in fields(Milestones)})
    for milestone in milestones:
        updated = record_milestone(updated, milestone, at=at)
    for f in fields(updated):
        setattr(row, f.name, getattr(updated, f.name))


def _emit_step(batch: list[tuple[str, str, bytes]], *, clock: SlaClock, step: Step, now: datetime) -> None:
    data: BaseModel
    if step.kind == StepKind.WARNING:
        data = SlaClockWarned(**_clock_data(clock), at=now, percent=step.percent or 1)
        event_type = EventType.SLA_CLOCK_WARNED
    elif step.kind == StepKind.BREACH:
        data = SlaClockBreached(**_clock_data(clock), at=now)
        event_type = EventType.SLA_CLOCK_BREACHED
    elif step.kind == StepKind.ESCALATION:
        data = SlaClockEscalated(**_clock_data(clock), at=now, level=step.level or 1, target=str(step.target))
        event_type = EventType.SLA_CLOCK_ESCALATED
    else:
        data = SlaReassignRequested(**_clock_data(clock), at=now, reason=f"{clock.kind} SLA breached")
        event_type = EventType.SLA_REASSIGN_REQUESTED
    cloud_event = _event(event_type=event_type, clock=clock, data=data, at=now, name=step.name)
    batch.append((cloud_event.id, cloud_event.subject, cloud_event.model_dump_json().encode()))


async def _emit_stop(session: AsyncSession, *, outbox: Outbox, clock: SlaClock, now: datetime, reason: str) -> None:
    assert clock.stopped_at is not None
    if clock.state == ClockState.CANCELLED:
        cancelled = SlaClockCancelled(**_clock_data(clock), at=clock.stopped_at, reason=reason)
        await _emit(
            session,
            outbox=outbox,
            event_type=EventType.SLA_CLOCK_CANCELLED,
            clock=clock,
            data=cancelled,
            at=clock.stopped_at,
            now=now,
        )
    if clock.state == ClockState.MET:
        met = SlaClockMet(
            **_clock_data(clock),
            at=clock.stopped_at,
            late=bool(clock.met_late),
            elapsed_seconds=elapsed_seconds(clock, at=clock.stopped_at),
        )
        await _emit(
            session,
            outbox=outbox,
            event_type=EventType.SLA_CLOCK_MET,
            clock=clock,
            data=met,
            at=clock.stopped_at,
            now=now,
        )
    if alerted_steps(clock):
        resolved = SlaAlertResolved(**_clock_data(clock), at=clock.stopped_at)
        await _emit(
            session,
            outbox=outbox,
            event_type=EventType.SLA_ALERT_RESOLVED,
            clock=clock,
            data=resolved,
            at=clock.stopped_at,
            now=now,
        )
        await queue_resolves(session, clock=clock, now=now)


async def _emit(
    session: AsyncSession,
    *,
    outbox: Outbox,
    event_type: EventType,
    clock: SlaClock,
    data: BaseModel,
    at: datetime,
    now: datetime,
    name: str | None = None,
) -> None:
    cloud_event = _event(event_type=event_type, clock=clock, data=data, at=at, name=name)
    await outbox.add_event(session, topic=Topic.SLA_EVENTS, cloud_event=cloud_event, now=now)


def _event(*, event_type: EventType, clock: SlaClock, data: BaseModel, at: datetime, name: str | None) -> Any:
    """Each event happens at most once per clock (and step), so its id is derived: a retry re-emits the same
    event."""
    event_id = str(uuid.uuid5(_EVENT_IDS, f"{clock.clock_id}/{name or event_type}"))
    return new_event(event_type=event_type, source=SOURCE, subject=clock.lead_id, data=data, time=at, id=event_id)


def _after_lifecycle_commit(stopped: list[SlaClock], *, wake: bool, on_wake: Callable[[], None]) -> None:
    for clock in stopped:
        if clock.state != ClockState.MET or clock.stopped_at is None:
            continue
        CLOCKS_MET.labels(kind=clock.kind, policy=clock.policy, late=str(bool(clock.met_late)).lower()).inc()
        histogram = {SlaClockKind.ACCEPTANCE: TIME_TO_ACCEPT, SlaClockKind.FIRST_RESPONSE: TIME_TO_FIRST_RESPONSE}
        if clock.kind in histogram:
            histogram[clock.kind].labels(basis="wall").observe(elapsed_seconds(clock, at=clock.stopped_at))
            histogram[clock.kind].labels(basis="business").observe(clock.consumed_seconds)
    if wake:
        on_wake()


def _clock_data(clock: SlaClock) -> dict[str, Any]:
    return {
        "clock_id": clock.clock_id,
        "lead_id": clock.lead_id,
        "kind": clock.kind,
        "policy": clock.policy,
        "rep_id": clock.rep_id,
        "started_at": clock.started_at,
        "due_at": clock.due_at,
    }


def business_and_wall(clock: SlaClock) -> tuple[float, float]:
    """(business, wall) seconds a stopped clock ran."""
    assert clock.stopped_at is not None
    return clock.consumed_seconds, elapsed_seconds(clock, at=clock.stopped_at)
