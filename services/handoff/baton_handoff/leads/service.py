"""Lead lifecycle: every transition is an immutable row plus a `lead.lifecycle` event (outbox),
written in the caller's transaction. Callers lock the lead row first (`lock_lead`), so two
writers never decide on the same lead at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prometheus_client import Counter
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event, random_event_id
from baton_contracts.events import (
    Assignee,
    EventType,
    LeadState,
    LifecycleChanged,
    SlaClockEscalated,
)
from baton_handoff import SOURCE
from baton_handoff.leads.exceptions import IllegalTransition, LeadNotFound
from baton_handoff.leads.rules import is_allowed
from baton_handoff.models import Lead, LifecycleTransition, SlaClockView
from baton_kit.db import after_commit
from baton_kit.outbox import Outbox

LEAD_TRANSITIONS = Counter(
    "baton_handoff_lead_transitions_total",
    "Committed lifecycle transitions, the funnel: known → mql → assigned → sal …, by segment and by the "
    'fit grade the lead had then (from_state="none" for a new lead; segment="none" before qualification '
    'sets one; fit_grade="none" before the first score is kept, or for a lead scored without one).',
    ["from_state", "to_state", "segment", "fit_grade"],
)


@dataclass(frozen=True)
class Change:
    """What a transition records besides from/to."""

    actor: str
    reason: str
    definitions_version: str
    at: datetime
    cause_event_id: str | None = None
    details: dict[str, Any] | None = None


async def lock_lead(session: AsyncSession, lead_id: str) -> Lead | None:
    return await session.scalar(select(Lead).where(Lead.lead_id == lead_id).with_for_update())


async def get_lead_or_404(session: AsyncSession, lead_id: str, *, for_update: bool = False) -> Lead:
    lead = await lock_lead(session, lead_id) if for_update else await session.get(Lead, lead_id)
    if lead is None:
        raise LeadNotFound(f"no lead {lead_id!r}")
    return lead


async def transition(
    session: AsyncSession,
    lead: Lead,
    to: LeadState,
    *,
    change: Change,
    outbox: Outbox,
    rep_id: str | None = None,
    assignee: Assignee | None = None,
) -> str:
    """Move `lead` to `to`, or raise `IllegalTransition` (nothing written). Returns the event id.

    `assignee` is carried on the event for the SLA monitor (who holds the lead, their calendar).
    """
    current = LeadState(lead.state) if lead.state else None
    if not is_allowed(current, to):
        assert current is not None
        raise IllegalTransition(lead_id=lead.lead_id, current=current, to=to)
    event_id = random_event_id()
    counted = LEAD_TRANSITIONS.labels(
        from_state=current or "none", to_state=to, segment=lead.segment or "none", fit_grade=lead.fit_grade or "none"
    )
    after_commit(session, counted.inc)
    lead.state = to
    lead.updated_at = change.at
    if rep_id is not None:
        lead.rep_id = rep_id
    if to != LeadState.MQL:  # a rep took it, or it left the funnel: no longer waiting in the queue
        lead.queued_at = None
    details = dict(change.details or {})
    session.add(
        LifecycleTransition(
            lead_id=lead.lead_id,
            event_id=event_id,
            from_state=current,
            to_state=to,
            at=change.at,
            actor=change.actor,
            reason=change.reason,
            definitions_version=change.definitions_version,
            cause_event_id=change.cause_event_id,
            rep_id=lead.rep_id,
            details=details,
        )
    )
    data = LifecycleChanged(
        lead_id=lead.lead_id,
        from_state=current,
        to_state=to,
        at=change.at,
        actor=change.actor,
        reason=change.reason,
        definitions_version=change.definitions_version,
        cause_event_id=change.cause_event_id,
        rep_id=lead.rep_id,
        assignee=assignee,
        segment=lead.segment,
        intent="high" if lead.intent == "high" else ("standard" if lead.intent else None),
        details=details,
    )
    await outbox.add_event(
        session,
        topic=Topic.LEAD_LIFECYCLE,
        cloud_event=new_event(
            event_type=EventType.LIFECYCLE_CHANGED,
            source=SOURCE,
            subject=lead.lead_id,
            data=data,
            time=change.at,
            id=event_id,
        ),
        now=change.at,
    )
    return event_id


def new_lead(lead_id: str, *, at: datetime, definitions_version: str) -> Lead:
    return Lead(
        lead_id=lead_id,
        state=None,
        score=0.0,
        score_explanation=[],
        definitions_version=definitions_version,
        created_at=at,
        updated_at=at,
    )


async def create_known_lead(session: AsyncSession, lead_id: str, *, change: Change, outbox: Outbox) -> Lead:
    lead = new_lead(lead_id, at=change.at, definitions_version=change.definitions_version)
    session.add(lead)
    await transition(session, lead, LeadState.KNOWN, change=change, outbox=outbox)
    return lead


async def timeline(session: AsyncSession, lead_id: str) -> list[LifecycleTransition]:
    rows = await session.scalars(
        select(LifecycleTransition).where(LifecycleTransition.lead_id == lead_id).order_by(LifecycleTransition.id)
    )
    return list(rows)


async def clocks(session: AsyncSession, lead_id: str) -> list[SlaClockView]:
    rows = await session.scalars(
        select(SlaClockView).where(SlaClockView.lead_id == lead_id).order_by(SlaClockView.started_at)
    )
    return list(rows)


async def list_leads(
    session: AsyncSession,
    *,
    state: LeadState | None,
    rep_id: str | None,
    team_id: str | None = None,
    grade: str | None = None,
    queued: bool | None = None,
    updated_since: datetime | None = None,
    limit: int,
    offset: int,
) -> tuple[list[Lead], int]:
    query = select(Lead)
    if state is not None:
        query = query.where(Lead.state == state)
    if rep_id is not None:
        query = query.where(Lead.rep_id == rep_id)
    if team_id is not None:
        query = query.where(Lead.team_id == team_id)
    if grade is not None:
        query = query.where(Lead.grade == grade)
    if queued is not None:
        query = query.where(Lead.queued_at.is_not(None) if queued else Lead.queued_at.is_(None))
    if updated_since is not None:
        query = query.where(Lead.updated_at >= updated_since)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Lead.updated_at.desc(), Lead.lead_id).limit(limit).offset(offset))
    return list(rows), total


CLOCK_STATES = {
    EventType.SLA_CLOCK_STARTED: "running",
    EventType.SLA_CLOCK_WARNED: "warned",
    EventType.SLA_CLOCK_BREACHED: "breached",
    EventType.SLA_CLOCK_MET: "met",
    EventType.SLA_CLOCK_CANCELLED: "cancelled",
    EventType.SLA_CLOCK_ESCALATED: None,  # keeps the state, raises the level
    EventType.SLA_ALERT_RESOLVED: None,
    EventType.SLA_REASSIGN_REQUESTED: None,
}
FINAL_CLOCK_STATES = frozenset({"met", "cancelled"})


async def record_sla_event(session: AsyncSession, event_type: EventType, data: Any, *, now: datetime) -> None:
    """Keep our view of an SLA clock (for GET lead). A late `warned` never reopens a met clock."""
    if event_type not in CLOCK_STATES:
        return
    clock = await session.get(SlaClockView, data.clock_id)
    if clock is None:
        clock = SlaClockView(
            clock_id=data.clock_id,
            lead_id=data.lead_id,
            kind=str(data.kind),
            policy=data.policy,
            rep_id=data.rep_id,
            state="running",
            started_at=data.started_at,
            due_at=data.due_at,
            updated_at=now,
            escalation_level=0,
        )
        session.add(clock)
    state = CLOCK_STATES[event_type]
    late_warning = state == "warned" and clock.state == "breached"
    if state is not None and clock.state not in FINAL_CLOCK_STATES and not late_warning:
        clock.state = state
    if isinstance(data, SlaClockEscalated):
        clock.escalation_level = max(clock.escalation_level, data.level)
    clock.due_at = data.due_at
    clock.updated_at = now
