"""Apply `lead.scored`: keep the lead's score, decide the MQL gate, and route new MQLs.

MQL and assignment are decided in the same transaction as the score that caused them, so a crash
can leave a lead neither qualified-but-unassigned nor assigned twice. One routing context is
shared by the whole consumer batch (the roster and accounts are loaded once per batch).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import EventType, LeadScored, LeadState
from baton_handoff.crm.delivery import CrmWake, queue_delivery
from baton_handoff.crm.packets import withdrawal_packet
from baton_handoff.leads.service import Change, create_known_lead, transition
from baton_handoff.models import Lead
from baton_handoff.qualification.rules import Outcome, qualify
from baton_handoff.routing.rules import segment_of
from baton_handoff.routing.service import RoutingContext, prefetch_sources, route_lead
from baton_kit.outbox import Outbox


async def apply_lead_scored(
    session: AsyncSession,
    events: list[CloudEvent[Any]],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    crm_webhook: CrmWake = None,
) -> None:
    scored = [e for e in events if e.type == EventType.LEAD_SCORED]
    if not scored:
        return
    lead_ids = sorted({e.data.lead_id for e in scored})
    leads = {
        lead.lead_id: lead
        for lead in await session.scalars(select(Lead).where(Lead.lead_id.in_(lead_ids)).with_for_update())
    }
    ctx = RoutingContext(definitions=definitions, crm_webhook=crm_webhook)
    await prefetch_sources(session, ctx, lead_ids)
    # One flush for the batch (at commit) instead of one per outbox row: the queries below do not
    # read the rows this batch adds, except capacity counts, which flush first (routing.service).
    with session.no_autoflush:
        for event in scored:
            await _apply_one(session, event, leads=leads, ctx=ctx, outbox=outbox, now=now)


async def _apply_one(
    session: AsyncSession,
    event: CloudEvent[LeadScored],
    *,
    leads: dict[str, Lead],
    ctx: RoutingContext,
    outbox: Outbox,
    now: datetime,
) -> None:
    scored = event.data
    definitions = ctx.definitions
    system = Change(actor="system", reason="", definitions_version=definitions.version, at=now, cause_event_id=event.id)
    lead = leads.get(scored.lead_id)
    if lead is None:
        lead = await create_known_lead(
            session, scored.lead_id, outbox=outbox, change=replace(system, reason="first engagement scored")
        )
        leads[lead.lead_id] = lead
    _keep_score(lead, scored, now=now, version=definitions.version)
    decision = qualify(
        state=LeadState(lead.state),
        scored=scored,
        rules=definitions.definitions.qualification,
        now=now,
        requalify_after=lead.requalify_after,
    )
    if decision.outcome == Outcome.NOT_APPLICABLE:
        return
    record = {
        "outcome": decision.outcome.value,
        "rule": decision.rule,
        "reason": decision.reason,
        "details": decision.details,
        "intent": decision.intent,
        "definitions_version": definitions.version,
        "scoring_definitions_version": scored.definitions_version,
        "at": now.isoformat(),
        "cause_event_id": event.id,
    }
    lead.qualification = record
    why = replace(system, reason=decision.reason, details={"rule": decision.rule, **decision.details})
    if decision.outcome == Outcome.DISQUALIFY:
        held_by = lead.rep_id if lead.state == LeadState.ASSIGNED else None
        event_id = await transition(session, lead, LeadState.DISQUALIFIED, outbox=outbox, change=why)
        if held_by is not None and ctx.crm_webhook is not None:  # the rep's CRM must learn to stop working it
            packet = withdrawal_packet(lead, rep_id=held_by, at=now, event_id=event_id, reason=decision.reason)
            queue_delivery(session, packet, at=now, wake=ctx.crm_webhook)
        return
    if decision.outcome != Outcome.MQL:
        return
    lead.intent = decision.intent
    lead.requalify_after = None
    # Known from the profile now, so the MQL event carries it: an assignment-clock SLA target for a
    # segment applies, and the funnel counts MQLs by segment. Routing sets the same value.
    lead.segment = segment_of((lead.profile or {}).get("employees"), definitions.definitions.routing.segments)
    await transition(session, lead, LeadState.MQL, outbox=outbox, change=why)
    await route_lead(
        session,
        lead,
        ctx=ctx,
        outbox=outbox,
        change=replace(system, reason="", details={"qualified_by": decision.rule}),
    )


def _keep_score(lead: Lead, scored: LeadScored, *, now: datetime, version: str) -> None:
    lead.score = scored.score
    lead.score_explanation = [c.model_dump(mode="json") for c in scored.contributions]
    lead.fit_grade = scored.fit_grade
    lead.engagement_band = scored.engagement_band
    lead.grade = scored.grade
    if scored.profile is not None:
        lead.profile = scored.profile.model_dump(mode="json", exclude_none=True)
    lead.scoring = {
        "score": scored.score,
        "fit_score": scored.fit_score,
        "engagement_score": scored.engagement_score,
        "demand_state": scored.demand_state,
        "disqualifiers": list(scored.disqualifiers),
        "high_intent": list(scored.high_intent),
        "account": scored.account.model_dump(mode="json") if scored.account else None,
        "scored_at": scored.scored_at.isoformat(),
        "definitions_version": scored.definitions_version,
    }
    lead.definitions_version = version
    lead.updated_at = now
