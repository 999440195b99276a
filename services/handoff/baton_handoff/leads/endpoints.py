from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts.events import LeadState
from baton_handoff.auth import Principal, authorize_lead
from baton_handoff.crm import delivery
from baton_handoff.crm.delivery import described
from baton_handoff.dependencies import ReadKey
from baton_handoff.leads import service
from baton_handoff.leads.schemas import ClockRead, LeadList, LeadRead, LeadSummary, TransitionRead
from baton_handoff.models import Lead
from baton_kit.http import DbSession

router = APIRouter(prefix="/v1/leads", tags=["leads"])

AUTH: dict[int | str, dict[str, Any]] = {
    401: {"description": "Missing or invalid API key"},
    403: {"description": "Key lacks the scope"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such lead, or (a rep- or team-bound key) not one of the key's leads"}
}


async def read_lead(session: AsyncSession, lead: Lead) -> LeadRead:
    transitions = await service.timeline(session, lead.lead_id)
    clocks = await service.clocks(session, lead.lead_id)
    return LeadRead.model_validate(
        {
            **LeadSummary.model_validate(lead).model_dump(),
            "definitions_version": lead.definitions_version,
            "created_at": lead.created_at,
            "profile": lead.profile,
            "account_id": lead.account_id,
            "scoring": lead.scoring,
            "qualification": lead.qualification,
            "first_response": lead.first_response,
            "requalify_after": lead.requalify_after,
            "score_explanation": lead.score_explanation,
            "timeline": [TransitionRead.model_validate(t) for t in transitions],
            "sla_clocks": [ClockRead.model_validate(c) for c in clocks],
            "crm_deliveries": [described(d) for d in await delivery.of_lead(session, lead.lead_id)],
        }
    )


def _own(principal: Principal, rep_id: str | None, team_id: str | None) -> tuple[str | None, str | None]:
    """A rep- or team-bound key only ever lists its own leads."""
    return principal.rep_id or rep_id, principal.team_id or team_id


@router.get("", response_model=LeadList, summary="List and filter leads, newest change first", responses=AUTH)
async def list_leads(
    session: DbSession,
    principal: ReadKey,
    state: LeadState | None = None,
    rep_id: Annotated[str | None, Query(max_length=100)] = None,
    team_id: Annotated[str | None, Query(max_length=100)] = None,
    grade: Annotated[str | None, Query(max_length=4)] = None,
    queued: bool | None = Query(default=None, description="Only leads waiting (or not) in the fallback queue."),
    updated_since: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> LeadList:
    rep_id, team_id = _own(principal, rep_id, team_id)
    leads, total = await service.list_leads(
        session,
        state=state,
        rep_id=rep_id,
        team_id=team_id,
        grade=grade,
        queued=queued,
        updated_since=updated_since,
        limit=limit,
        offset=offset,
    )
    return LeadList(items=[LeadSummary.model_validate(lead) for lead in leads], total=total)


@router.get(
    "/{lead_id}",
    response_model=LeadRead,
    summary="A lead: state, score explanation, qualification reasons, timeline, SLA clocks",
    responses={**AUTH, **NOT_FOUND},
)
async def get_lead(lead_id: str, session: DbSession, principal: ReadKey) -> LeadRead:
    lead = await service.get_lead_or_404(session, lead_id)
    authorize_lead(principal, lead)
    return await read_lead(session, lead)
