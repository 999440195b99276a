"""Apply `lead.scored`: keep the lead's score, decide the MQL gate, and route new MQLs.

MQL and assignment are decided in the same transaction as the score that caused them, so a crash
can leave a lead neither qualified-but-unassigned nor assigned twice. One routing context is
shared by the whole consumer batch (the roster and accounts are loaded once per batch).

A buying committee is a fact about an account, not about the lead whose score shows it: when a
`lead.scored` shows that its account has formed one, the account's other open leads are qualified
by it too (each on its kept score), so which of them become MQLs does not depend on the order in
which the account's people were scored.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.definitions.qualification import QualificationDefinitions
from baton_contracts.events import AccountSnapshot, EventType, LeadScored, LeadState
from baton_handoff.crm.delivery import CrmWake, queue_delivery
from baton_handoff.crm.packets import withdrawal_packet
from baton_handoff.leads.service import Change, create_known_lead, transition
from baton_handoff.models import Lead
from baton_handoff.qualification.rules import QUALIFIABLE_STATES, Outcome, Qualification, qualify
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
    committees = committees_formed(scored, definitions.definitions.qualification)
    wanted: ColumnElement[bool] = Lead.lead_id.in_(lead_ids)
    if committees:  # and the other open leads of those accounts
        open_states = sorted(state.value for state in QUALIFIABLE_STATES)
        wanted = or_(wanted, and_(Lead.account_key.in_(sorted(committees)), Lead.state.in_(open_states)))
    # Locked in one statement, in lead id order, so two consumers never lock shared leads in opposite orders.
    leads = {
        lead.lead_id: lead
        for lead in await session.scalars(select(Lead).where(wanted).order_by(Lead.lead_id).with_for_update())
    }
    ctx = RoutingContext(definitions=definitions, crm_webhook=crm_webhook)
    await prefetch_sources(session, ctx, sorted(leads))
    # One flush for the batch (at commit) instead of one per outbox row: the queries below do not
    # read the rows this batch adds, except capacity counts, which flush first (routing.service).
    with session.no_autoflush:
        for event in scored:
            await _apply_one(session, event, leads=leads, ctx=ctx, outbox=outbox, now=now)
        for lead in list(leads.values()):
            formed = committees.get(lead.account_key or "")
            if formed is not None:
                await _join_committee(session, lead, *formed, ctx=ctx, outbox=outbox, now=now)


def committees_formed(
    events: list[CloudEvent[LeadScored]], rules: QualificationDefinitions
) -> dict[str, tuple[AccountSnapshot, CloudEvent[LeadScored]]]:
    """Per account whose buying committee these scores show formed: its latest snapshot and that score."""
    committee = rules.buying_committee
    formed: dict[str, tuple[AccountSnapshot, CloudEvent[LeadScored]]] = {}
    if committee is None:
        return formed
    for event in events:
        account = event.data.account
        if account is None or account.engaged_stakeholders < committee.min_engaged_stakeholders:
            continue
        seen = formed.get(account.account_key)
        if seen is None or event.data.scored_at >= seen[1].data.scored_at:
            formed[account.account_key] = (account, event)
    return formed


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
    decision = _gate(lead, scored, ctx=ctx, now=now)
    await _act(session, lead, decision, scored, cause_event_id=event.id, ctx=ctx, outbox=outbox, now=now)


async def _join_committee(
    session: AsyncSession,
    lead: Lead,
    account: AccountSnapshot,
    cause: CloudEvent[LeadScored],
    *,
    ctx: RoutingContext,
    outbox: Outbox,
    now: datetime,
) -> None:
    """Qualify an open lead of an account whose buying committee `cause` shows formed, on the lead's kept
    score with the account as it stands now. Only the committee may qualify it here: anything else
    about the lead is decided when its own score arrives."""
    committee = ctx.definitions.definitions.qualification.buying_committee
    kept = (lead.scoring or {}).get("account") or {}
    if (
        committee is None
        or lead.scoring is None
        or LeadState(lead.state) not in QUALIFIABLE_STATES
        or kept.get("engaged_stakeholders", 0) >= committee.min_engaged_stakeholders  # judged with it already
    ):
        return
    lead.scoring = {**lead.scoring, "account": account.model_dump(mode="json")}
    lead.updated_at = now
    scored = kept_score(lead)
    decision = _gate(lead, scored, ctx=ctx, now=now)
    if "buying_committee" in (decision.rule, decision.details.get("qualifying_rule")):
        await _act(session, lead, decision, scored, cause_event_id=cause.id, ctx=ctx, outbox=outbox, now=now)


def _gate(lead: Lead, scored: LeadScored, *, ctx: RoutingContext, now: datetime) -> Qualification:
    rules = ctx.definitions.definitions.qualification
    return qualify(
        state=LeadState(lead.state), scored=scored, rules=rules, now=now, requalify_after=lead.requalify_after
    )


async def _act(
    session: AsyncSession,
    lead: Lead,
    decision: Qualification,
    scored: LeadScored,
    *,
    cause_event_id: str,
    ctx: RoutingContext,
    outbox: Outbox,
    now: datetime,
) -> None:
    """Record the gate's decision on the lead and carry it out: disqualify, or make an MQL and route it."""
    if decision.outcome == Outcome.NOT_APPLICABLE:
        return
    definitions = ctx.definitions
    system = Change(
        actor="system", reason="", definitions_version=definitions.version, at=now, cause_event_id=cause_event_id
    )
    record = {
        "outcome": decision.outcome.value,
        "rule": decision.rule,
        "reason": decision.reason,
        "details": decision.details,
        "intent": decision.intent,
        "definitions_version": definitions.version,
        "scoring_definitions_version": scored.definitions_version,
        "at": now.isoformat(),
        "cause_event_id": cause_event_id,
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
    lead.account_key = scored.account.account_key if scored.account else None
    lead.definitions_version = version
    lead.updated_at = now


def kept_score(lead: Lead) -> LeadScored:
    """The lead's latest `lead.scored`, as `_keep_score` kept it."""
    scoring = lead.scoring or {}
    return LeadScored.model_validate(
        {
            **{
                key: value
                for key in ("fit_score", "engagement_score", "demand_state", "account")
                if (value := scoring.get(key)) is not None
            },
            "lead_id": lead.lead_id,
            "score": lead.score,
            "fit_grade": lead.fit_grade,
            "engagement_band": lead.engagement_band,
            "grade": lead.grade,
            "disqualifiers": scoring.get("disqualifiers") or [],
            "high_intent": scoring.get("high_intent") or [],
            "profile": lead.profile,
            "contributions": lead.score_explanation or [],
            "scored_at": scoring["scored_at"],
            "definitions_version": scoring.get("definitions_version") or lead.definitions_version,
        }
    )
