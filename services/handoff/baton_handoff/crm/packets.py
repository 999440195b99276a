"""The CRM webhook's bodies, built from a lead as the handoff holds it (`baton_contracts.crm_webhook`
has the models and their schemas)."""

from __future__ import annotations

from datetime import datetime

from baton_contracts.crm_webhook import Assignee as CrmAssignee
from baton_contracts.crm_webhook import CrmLead, EngagementHistory, LeadAssigned, LeadDisqualified, PreviousAssignee
from baton_contracts.crm_webhook import Routing as CrmRouting
from baton_handoff.models import Lead, Rep
from baton_handoff.routing.rules import Route


def lead_summary(lead: Lead) -> CrmLead:
    """The lead as every CRM webhook body carries it."""
    return CrmLead(
        lead_id=lead.lead_id,
        state=lead.state,
        profile=lead.profile,
        score=lead.score,
        fit_grade=lead.fit_grade,
        engagement_band=lead.engagement_band,
        grade=lead.grade,
        intent=lead.intent,
        segment=lead.segment,
    )


def context_packet(lead: Lead, *, rep: Rep, decision: Route, at: datetime, event_id: str) -> LeadAssigned:
    """What the CRM gets on assignment: who, why, the score breakdown and the matched account."""
    scoring = lead.scoring or {}
    return LeadAssigned(
        event_id=event_id,
        at=at,
        lead=lead_summary(lead),
        assignee=CrmAssignee(rep_id=rep.rep_id, team_id=rep.team_id, email=rep.email, name=rep.name),
        routing=CrmRouting(rule=decision.rule, reason=decision.reason, details=decision.details),
        qualification=lead.qualification or {},
        score_breakdown=lead.score_explanation or [],
        engagement_history=EngagementHistory(
            activities=[c for c in lead.score_explanation or [] if c.get("category") == "engagement"],
            high_intent=scoring.get("high_intent", []),
            demand_state=scoring.get("demand_state"),
        ),
        account=decision.details.get("account"),
        source=decision.details.get("source"),
        definitions_version=lead.definitions_version,
    )


def withdrawal_packet(lead: Lead, *, rep_id: str, at: datetime, event_id: str, reason: str) -> LeadDisqualified:
    """What the CRM gets when an assigned lead is disqualified under its rep: stop working it."""
    return LeadDisqualified(
        event_id=event_id,
        at=at,
        lead=lead_summary(lead),
        previous_assignee=PreviousAssignee(rep_id=rep_id, team_id=lead.team_id),
        reason=reason,
        disqualifiers=(lead.scoring or {}).get("disqualifiers", []),
        definitions_version=(lead.qualification or {}).get("definitions_version"),
    )
