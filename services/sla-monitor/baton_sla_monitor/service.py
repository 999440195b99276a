"""Apply lifecycle changes to milestones and clocks; breach due clocks. Runs inside the caller's
transaction and never commits: events leave through the outbox, metrics move after commit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import asdict, fields
from datetime import datetime
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
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
    SlaClockKind,
    SlaClockMet,
    SlaClockStarted,
)
from baton_kit.db import after_commit
from baton_kit.outbox import Outbox
from baton_sla_monitor.models import LeadMilestones, SlaClockRecord
from baton_sla_monitor.rules import (
    ACTIVE_STATES,
    ClockState,
    Milestone,
    Milestones,
    SlaClock,
    breach,
    decide_lifecycle,
    elapsed_seconds,
    record_milestone,
)

SOURCE = "/baton/sla-monitor"
_EVENT_IDS = uuid.UUID("5b0f6c3e-2d44-4c8e-9a51-7c1f0e6b9d21")

log = structlog.get_logger(__name__)

OPEN_CLOCKS = Gauge(
    "baton_sla_monitor_open_clocks",
    "Clocks running or breached and not yet handled, counted in the shared clocks table (every instance reports "
    "the same value).",
    ["kind"],
)
CLOCKS_BREACHED = Counter(
    "baton_sla_monitor_clocks_breached_total", "Clocks that passed their due time unhandled.", ["kind"]
)
CLOCKS_MET = Counter(
    "baton_sla_monitor_clocks_met_total",
    "Clocks stopped by the lead being handled; late=true when after the due time.",
    ["kind", "late"],
)


async def apply_lifecycle(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    on_clock_opened: Callable[[], None],
) -> None:
    """Record milestones, open and stop clocks, and emit their `sla.events`.

    Events arrive de-duplicated (the inbox) and, per lead, in order. A lead's active clocks are
    read `FOR UPDATE`, so a timer breaching one at the same moment is waited for, not overwritten.
    `on_clock_opened` runs after the transaction commits, when it opened a clock.
    """
    met: list[SlaClock] = []
    opened: list[SlaClock] = []
    for cloud_event in events:
        if cloud_event.type != EventType.LIFECYCLE_CHANGED:
            continue
        change: LifecycleChanged = cloud_event.data
        active_rows = {
            row.clock_id: row
            for row in await session.scalars(
                select(SlaClockRecord)
                .where(SlaClockRecord.lead_id == change.lead_id, SlaClockRecord.state.in_(ACTIVE_STATES))
                .with_for_update()
            )
        }
        decision = decide_lifecycle(
            change=change,
            event_id=cloud_event.id,
            sla=definitions.definitions.sla,
            active=[_snapshot(row) for row in active_rows.values()],
        )
        await _record_milestone(session, lead_id=change.lead_id, milestone=decision.milestone, at=change.at)
        for clock in decision.stopped:
            _copy(clock, active_rows[clock.clock_id])
            await _emit_stop(
                session, outbox=outbox, clock=clock, now=now, reason=f"{change.from_state or 'none'}->{change.to_state}"
            )
            if clock.state == ClockState.MET:
                met.append(clock)
        if decision.stopped:
            await session.flush()  # a stopped clock leaves the one-active-clock-per-kind index before its successor
        for clock in decision.opened:
            if await session.get(SlaClockRecord, clock.clock_id) is not None:
                continue  # a replayed transition whose clock has since stopped
            session.add(SlaClockRecord(**asdict(clock), definitions_version=definitions.version))
            await _emit(
                session,
                outbox=outbox,
                event_type=EventType.SLA_CLOCK_STARTED,
                clock=clock,
                data=SlaClockStarted(**_clock_data(clock)),
                at=clock.started_at,
                now=now,
            )
            opened.append(clock)
        log.info(
            "lifecycle change applied",
            event_id=cloud_event.id,
            lead_id=change.lead_id,
            to_state=change.to_state,
            opened=[c.clock_id for c in decision.opened],
            stopped={c.clock_id: c.state for c in decision.stopped},
        )
    if met or opened:
        after_commit(session, lambda: _after_lifecycle_commit(met=met, opened=opened, on_clock_opened=on_clock_opened))


async def breach_due_clocks(session: AsyncSession, *, outbox: Outbox, now: datetime, limit: int) -> list[SlaClock]:
    """Breach up to `limit` running clocks due by `now`, emitting `SlaClockBreached` for each.

    Two monitors never breach one clock twice: rows are claimed `FOR UPDATE SKIP LOCKED` on
    PostgreSQL (SQLite ignores it; its `BEGIN IMMEDIATE` write lock serialises instead), and only
    the transaction that moves a clock from running to breached emits. Callers count the
    breaches after their commit.
    """
    rows = await session.scalars(
        select(SlaClockRecord)
        .where(SlaClockRecord.state == ClockState.RUNNING, SlaClockRecord.due_at <= now)
        .order_by(SlaClockRecord.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    breached: list[SlaClock] = []
    for row in rows:
        clock = breach(_snapshot(row), now=now)
        _copy(clock, row)
        await _emit(
            session,
            outbox=outbox,
            event_type=EventType.SLA_CLOCK_BREACHED,
            clock=clock,
            data=SlaClockBreached(**_clock_data(clock), at=now),
            at=now,
            now=now,
        )
        breached.append(clock)
    return breached


async def next_due_at(session: AsyncSession) -> datetime | None:
    """The earliest due time of a running clock."""
    due: datetime | None = await session.scalar(
        select(func.min(SlaClockRecord.due_at)).where(SlaClockRecord.state == ClockState.RUNNING)
    )
    return due


async def count_clocks(session: AsyncSession) -> dict[tuple[SlaClockKind, ClockState], int]:
    rows = await session.execute(
        select(SlaClockRecord.kind, SlaClockRecord.state, func.count()).group_by(
            SlaClockRecord.kind, SlaClockRecord.state
        )
    )
    return {(kind, state): count for kind, state, count in rows.tuples()}


async def lead_clocks(session: AsyncSession, *, lead_id: str) -> tuple[Milestones, list[SlaClock]] | None:
    """A lead's milestones and every clock it has had, oldest first; None when no transition was seen."""
    row = await session.get(LeadMilestones, lead_id)
    if row is None:
        return None
    clocks = await session.scalars(
        select(SlaClockRecord)
        .where(SlaClockRecord.lead_id == lead_id)
        .order_by(SlaClockRecord.started_at, SlaClockRecord.clock_id)
    )
    milestones = Milestones(**{f.name: getattr(row, f.name) for f in fields(Milestones)})
    return milestones, [_snapshot(clock) for clock in clocks]


def set_open_clocks(counts: dict[tuple[SlaClockKind, ClockState], int]) -> None:
    for kind in SlaClockKind:
        OPEN_CLOCKS.labels(kind=kind).set(sum(counts.get((kind, state), 0) for state in ACTIVE_STATES))


async def _record_milestone(session: AsyncSession, *, lead_id: str, milestone: Milestone | None, at: datetime) -> None:
    row = await session.get(LeadMilestones, lead_id, with_for_update=True)
    if row is None:
        row = LeadMilestones(lead_id=lead_id)
        session.add(row)
    if milestone is not None:
        current = Milestones(**{f.name: getattr(row, f.name) for f in fields(Milestones)})
        _copy(record_milestone(current, milestone, at=at), row)


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
    if clock.breached_at is not None:
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


async def _emit(
    session: AsyncSession,
    *,
    outbox: Outbox,
    event_type: EventType,
    clock: SlaClock,
    data: BaseModel,
    at: datetime,
    now: datetime,
) -> None:
    """Each event happens at most once per clock, so its id is derived: a retry re-emits the same event."""
    event_id = str(uuid.uuid5(_EVENT_IDS, f"{clock.clock_id}/{event_type}"))
    cloud_event = new_event(
        event_type=event_type, source=SOURCE, subject=clock.lead_id, data=data, time=at, id=event_id
    )
    await outbox.add_event(session, topic=Topic.SLA_EVENTS, cloud_event=cloud_event, now=now)


def _after_lifecycle_commit(
    *, met: list[SlaClock], opened: list[SlaClock], on_clock_opened: Callable[[], None]
) -> None:
    for clock in met:
        CLOCKS_MET.labels(kind=clock.kind, late=str(bool(clock.met_late)).lower()).inc()
    if opened:
        on_clock_opened()


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


def _snapshot(row: SlaClockRecord) -> SlaClock:
    return SlaClock(**{f.name: getattr(row, f.name) for f in fields(SlaClock)})


def _copy(source: Milestones | SlaClock, target: LeadMilestones | SlaClockRecord) -> None:
    for f in fields(source):
        setattr(target, f.name, getattr(source, f.name))
