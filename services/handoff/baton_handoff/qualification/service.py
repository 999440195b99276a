"""Apply `lead.scored`: keep the lead's score, make it an MQL when it qualifies, and route it.

MQL and assignment are decided in the same transaction as the score that caused them, so a crash
can leave a lead neither qualified-but-unassigned nor assigned twice.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import EventType, LeadScored, LeadState
from baton_handoff.leads.service import Change, create_known_lead, lock_lead, transition
from baton_handoff.qualification.rules import qualify
from baton_handoff.routing.service import choose_rep
from baton_kit.outbox import Outbox


async def apply_lead_scored(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> None:
    for event in events:
        if event.type == EventType.LEAD_SCORED:
            await _apply_one(session, event, definitions=definitions, outbox=outbox, now=now)


async def _apply_one(
    session: AsyncSession,
    event: CloudEvent[LeadScored],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> None:
    scored = event.data
    system = Change(actor="system", reason="", definitions_version=definitions.version, at=now, cause_event_id=event.id)
    lead = await lock_lead(session, scored.lead_id)
    if lead is None:
        lead = await create_known_lead(
            session,
            scored.lead_id,
            outbox=outbox,
            change=replace(system, reason="first engagement scored"),
        )
    lead.score = scored.score
    lead.score_explanation = [c.model_dump() for c in scored.contributions]
    lead.definitions_version = definitions.version
    lead.updated_at = now
    qualification = qualify(
        state=LeadState(lead.state), score=scored.score, rules=definitions.definitions.qualification
    )
    if qualification is None:
        return
    await transition(
        session,
        lead,
        LeadState.MQL,
        outbox=outbox,
        change=replace(
            system, reason=qualification.reason, details={"rule": qualification.rule, **qualification.details}
        ),
    )
    rep_id = await choose_rep(session, routing=definitions.definitions.routing)
    await transition(
        session,
        lead,
        LeadState.ASSIGNED,
        outbox=outbox,
        rep_id=rep_id,
        change=replace(system, reason="round robin", details={"rotation": "default"}),
    )
