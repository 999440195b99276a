"""The CRM's commands on a lead. Each locks the lead row, checks the caller may act on it, and
records one lifecycle transition (or, for first-response, the earliest response) in the caller's
transaction. The state machine refuses what is illegal (409 with the current state), so two
concurrent decisions on one assignment cannot both win: the second sees the first's state."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import Topic, new_event
from baton_contracts.definitions import LoadedDefinitions
from baton_contracts.events import EventType, FirstResponseRecorded, LeadState, SlaReassignRequested
from baton_handoff import SOURCE
from baton_handoff.auth import Principal, authorize_lead, system_principal
from baton_handoff.crm.delivery import CrmWake
from baton_handoff.crm.exceptions import InvalidRejection, NoEligibleRep
from baton_handoff.crm.schemas import Disqualify, FirstResponse, Reassign, Recycle, RejectLead, StageUpdate
from baton_handoff.leads.exceptions import IllegalTransition, NoResponseYet, NotTheAssignedRep
from baton_handoff.leads.service import Change, get_lead_or_404, record_sla_event, transition
from baton_handoff.models import Assignment, Lead
from baton_handoff.routing.rules import ineligibility
from baton_handoff.routing.service import (
    RoutingContext,
    _rep,
    _rep_states,
    assignee_of,
    previous_assignees,
    route_lead,
)
from baton_kit.db import after_commit
from baton_kit.outbox import Outbox

LEADS_REJECTED = Counter(
    "baton_handoff_leads_rejected_total", "Leads sales rejected, by reason from the taxonomy.", ["reason"]
)

POST_ASSIGNMENT = frozenset({LeadState.ASSIGNED, LeadState.SAL, LeadState.SQL, LeadState.OPPORTUNITY})


async def _locked(session: AsyncSession, lead_id: str, principal: Principal) -> Lead:
    lead = await get_lead_or_404(session, lead_id, for_update=True)
    authorize_lead(principal, lead)
    return lead


def _check_rep(lead: Lead, rep_id: str | None) -> None:
    if rep_id is not None and lead.state == LeadState.ASSIGNED and lead.rep_id != rep_id:
        raise NotTheAssignedRep(lead_id=lead.lead_id, assigned=lead.rep_id, caller=rep_id)


async def accept(
    session: AsyncSession,
    *,
    lead_id: str,
    rep_id: str | None,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    """The assigned rep accepts the lead: assigned → sal."""
    lead = await _locked(session, lead_id, principal)
    _check_rep(lead, rep_id or principal.rep_id)
    actor = f"rep:{rep_id}" if rep_id else principal.actor
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


def validate_rejection(body: RejectLead, definitions: LoadedDefinitions) -> None:
    taxonomy = definitions.definitions.crm
    reason = taxonomy.reason(body.reason)
    if reason is None:
        raise InvalidRejection(
            f"unknown rejection reason {body.reason!r}",
            field="reason",
            allowed=[r.code for r in taxonomy.rejection_reasons],
        )
    if reason.sub_reasons and body.sub_reason not in reason.sub_reasons:
        raise InvalidRejection(
            f"reason {reason.code!r} needs a sub_reason", field="sub_reason", allowed=reason.sub_reasons
        )
    if not reason.sub_reasons and body.sub_reason is not None:
        raise InvalidRejection(f"reason {reason.code!r} has no sub-reasons", field="sub_reason", allowed=[])
    if reason.requires_note and not (body.note and body.note.strip()):
        raise InvalidRejection(f"reason {reason.code!r} requires a note", field="note")


async def reject(
    session: AsyncSession,
    *,
    lead_id: str,
    body: RejectLead,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    """assigned → rejected (reason from the taxonomy); with `recycle_on`, → recycled at once."""
    validate_rejection(body, definitions)
    lead = await _locked(session, lead_id, principal)
    _check_rep(lead, body.rep_id or principal.rep_id)
    actor = f"rep:{body.rep_id}" if body.rep_id else principal.actor
    details = {
        "reason": body.reason,
        "sub_reason": body.sub_reason,
        "note": body.note,
        "recycle_on": body.recycle_on.isoformat() if body.recycle_on else None,
    }
    label = definitions.definitions.crm.reason(body.reason)
    text = f"rejected: {label.label if label else body.reason}" + (f" ({body.sub_reason})" if body.sub_reason else "")
    change = Change(actor=actor, reason=text, definitions_version=definitions.version, at=now, details=details)
    await transition(session, lead, LeadState.REJECTED, outbox=outbox, change=change)
    after_commit(session, LEADS_REJECTED.labels(reason=body.reason).inc)
    if body.recycle_on is not None:
        lead.requalify_after = body.recycle_on
        await transition(
            session,
            lead,
            LeadState.RECYCLED,
            outbox=outbox,
            change=Change(
                actor=actor,
                reason=f"recycled on rejection until {body.recycle_on.isoformat()}",
                definitions_version=definitions.version,
                at=now,
                details={"requalify_after": body.recycle_on.isoformat()},
            ),
        )
    return lead


async def record_first_response(
    session: AsyncSession,
    *,
    lead_id: str,
    body: FirstResponse,
    principal: Principal,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    """Keep the earliest first response; a later one is acknowledged and changes nothing."""
    lead = await _locked(session, lead_id, principal)
    state = LeadState(lead.state)
    if state not in POST_ASSIGNMENT:
        raise NoResponseYet(lead_id=lead_id, current=state)
    if lead.first_response_at is not None and lead.first_response_at <= body.occurred_at:
        return lead
    lead.first_response_at = body.occurred_at
    lead.first_response = {
        **body.model_dump(mode="json"),
        "rep_id": lead.rep_id,
        "recorded_at": now.isoformat(),
        "actor": principal.actor,
    }
    await outbox.add_event(
        session,
        topic=Topic.LEAD_LIFECYCLE,
        now=now,
        cloud_event=new_event(
            event_type=EventType.FIRST_RESPONSE_RECORDED,
            source=SOURCE,
            subject=lead_id,
            time=now,
            data=FirstResponseRecorded(
                lead_id=lead_id,
                rep_id=lead.rep_id,
                channel=body.channel,
                occurred_at=body.occurred_at,
                external_activity_id=body.external_activity_id,
            ),
        ),
    )
    return lead


async def disqualify(
    session: AsyncSession,
    *,
    lead_id: str,
    body: Disqualify,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    lead = await _locked(session, lead_id, principal)
    await transition(
        session,
        lead,
        LeadState.DISQUALIFIED,
        outbox=outbox,
        change=Change(
            actor=principal.actor,
            reason=f"disqualified: {body.reason}",
            definitions_version=definitions.version,
            at=now,
            details={"reason": body.reason, "note": body.note},
        ),
    )
    return lead


async def recycle(
    session: AsyncSession,
    *,
    lead_id: str,
    body: Recycle,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    lead = await _locked(session, lead_id, principal)
    until = body.recycle_on or now + timedelta(days=definitions.definitions.qualification.recycle_cooldown_days)
    if LeadState(lead.state) == LeadState.REJECTED:
        lead.requalify_after = until
    await transition(
        session,
        lead,
        LeadState.RECYCLED,
        outbox=outbox,
        change=Change(
            actor=principal.actor,
            reason=f"recycled; may qualify again from {until.isoformat()}",
            definitions_version=definitions.version,
            at=now,
            details={"requalify_after": until.isoformat(), "note": body.note},
        ),
    )
    return lead


async def reassign(
    session: AsyncSession,
    *,
    lead_id: str,
    body: Reassign,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    crm_webhook: CrmWake = None,
    cause_event_id: str | None = None,
    queue_when_nobody: bool = False,
) -> Lead:
    """assigned → assigned to someone else: the named rep, or routed again skipping every previous assignee."""
    lead = await _locked(session, lead_id, principal)
    current = LeadState(lead.state)
    if current != LeadState.ASSIGNED:
        raise IllegalTransition(lead_id=lead_id, current=current, to=LeadState.ASSIGNED)
    excluded = await previous_assignees(session, lead_id) | ({lead.rep_id} if lead.rep_id else set())
    ctx = RoutingContext(definitions=definitions, crm_webhook=crm_webhook)
    change = Change(
        actor=principal.actor,
        reason=f"reassigned: {body.reason}",
        definitions_version=definitions.version,
        at=now,
        cause_event_id=cause_event_id,
        details={"previous_rep_id": lead.rep_id, "skipped": sorted(excluded)},
    )
    if body.rep_id is not None:
        rep = await _rep(session, ctx, body.rep_id)
        if rep is None:
            raise NoEligibleRep(f"no rep {body.rep_id!r} on the roster")
        state = (await _rep_states(session, [rep], now=now))[rep.rep_id]
        why = ineligibility(state, now=now, excluded=frozenset({lead.rep_id}) if lead.rep_id else frozenset())
        if why is not None:
            raise NoEligibleRep(f"rep {body.rep_id!r} cannot take the lead now: {why}", extra={"why": why})
        session.add(Assignment(lead_id=lead_id, rep_id=rep.rep_id, team_id=rep.team_id, at=now))
        lead.team_id = rep.team_id
        await transition(
            session,
            lead,
            LeadState.ASSIGNED,
            outbox=outbox,
            rep_id=rep.rep_id,
            assignee=assignee_of(rep),
            change=change,
        )
        return lead
    rep_id = await route_lead(session, lead, ctx=ctx, outbox=outbox, change=change, excluded=frozenset(excluded))
    if rep_id is None and not queue_when_nobody:
        raise NoEligibleRep(
            f"no eligible rep for lead {lead_id!r} besides its previous assignees", extra={"skipped": sorted(excluded)}
        )
    return lead


async def stage(
    session: AsyncSession,
    *,
    lead_id: str,
    to: LeadState,
    body: StageUpdate,
    principal: Principal,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
) -> Lead:
    """Later stages reported by the CRM (sal → sql → opportunity → won | lost), for calibration."""
    lead = await _locked(session, lead_id, principal)
    await transition(
        session,
        lead,
        to,
        outbox=outbox,
        change=Change(
            actor=principal.actor,
            reason=f"CRM reported {to.value}",
            definitions_version=definitions.version,
            at=now,
            details=body.model_dump(mode="json", exclude_none=True),
        ),
    )
    return lead


async def apply_sla_events(
    session: AsyncSession,
    events: list[Any],
    *,
    definitions: LoadedDefinitions,
    outbox: Outbox,
    now: datetime,
    crm_webhook: CrmWake = None,
) -> None:
    """Keep our view of the SLA clocks, and act on reassign requests: a lead still held by the rep
    whose clock breached goes to someone who has not had it yet (or waits in the queue)."""
    for event in events:
        await record_sla_event(session, event.type, event.data, now=now)
        if event.type != EventType.SLA_REASSIGN_REQUESTED:
            continue
        data: SlaReassignRequested = event.data
        lead = await session.get(Lead, data.lead_id)
        if lead is None or lead.state != LeadState.ASSIGNED or (data.rep_id and lead.rep_id != data.rep_id):
            continue  # already accepted, rejected or reassigned: the request is stale
        await reassign(
            session,
            lead_id=data.lead_id,
            body=Reassign(reason=data.reason or "SLA breached"),
            principal=system_principal("sla-monitor"),
            definitions=definitions,
            outbox=outbox,
            now=now,
            crm_webhook=crm_webhook,
            cause_event_id=event.id,
            queue_when_nobody=True,
        )
