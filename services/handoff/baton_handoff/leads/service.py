"""Lead lifecycle: every transition is an immutable row plus a `lead.lifecycle` event (outbox),
written in the caller's transaction. Callers lock the lead row first (`lock_lead`), so two
writers never decide on the same lead at once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import EventType, LeadState, LifecycleChanged
from baton_handoff import SOURCE
from baton_handoff.leads.exceptions import IllegalTransition, LeadNotFound, NotTheAssignedRep
from baton_handoff.leads.rules import is_allowed
from baton_handoff.models import Lead, LifecycleTransition
from baton_kit.outbox import Outbox


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
    session: AsyncSession, lead: Lead, to: LeadState, *, change: Change, outbox: Outbox, rep_id: str | None = None
) -> None:
    """Move `lead` to `to`, or raise `IllegalTransition` (nothing written)."""
    current = LeadState(lead.state) if lead.state else None
    if not is_allowed(current, to):
        assert current is not None
        raise IllegalTransition(lead_id=lead.lead_id, current=current, to=to)
    event_id = str(uuid.uuid4())
    lead.state = to
    lead.updated_at = change.at
    if rep_id is not None:
        lead.rep_id = rep_id
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


async def create_known_lead(session: AsyncSession, lead_id: str, *, change: Change, outbox: Outbox) -> Lead:
    lead = Lead(
        lead_id=lead_id,
        state=None,
        score=0.0,
        score_explanation=[],
        definitions_version=change.definitions_version,
        created_at=change.at,
        updated_at=change.at,
    )
    session.add(lead)
    await transition(session, lead, LeadState.KNOWN, change=change, outbox=outbox)
    return lead


async def accept(
    session: AsyncSession,
    *,
    lead_id: str,
    rep_id: str | None,
    actor: str,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    """The assigned rep accepts the lead: assigned → sal."""
    lead = await get_lead_or_404(session, lead_id, for_update=True)
    if rep_id is not None and lead.state == LeadState.ASSIGNED and lead.rep_id != rep_id:
        raise NotTheAssignedRep(lead_id=lead_id, assigned=lead.rep_id, caller=rep_id)
    await transition(
        session,
        lead,
        LeadState.SAL,
        outbox=outbox,
        change=Change(
            actor=actor, reason="accepted by the assigned rep", definitions_version=definitions.version, at=now
        ),
    )
    return lead


async def timeline(session: AsyncSession, lead_id: str) -> list[LifecycleTransition]:
    rows = await session.scalars(
        select(LifecycleTransition).where(LifecycleTransition.lead_id == lead_id).order_by(LifecycleTransition.id)
    )
    return list(rows)


async def list_leads(
    session: AsyncSession, *, state: LeadState | None, rep_id: str | None, limit: int, offset: int
) -> tuple[list[Lead], int]:
    query = select(Lead)
    if state is not None:
        query = query.where(Lead.state == state)
    if rep_id is not None:
        query = query.where(Lead.rep_id == rep_id)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(Lead.updated_at.desc(), Lead.lead_id).limit(limit).offset(offset))
    return list(rows), total
