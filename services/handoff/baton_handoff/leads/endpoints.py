from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from baton_contracts.events import LeadState
from baton_handoff.dependencies import DefinitionsDep, RuntimeDep
from baton_handoff.leads import service
from baton_handoff.leads.schemas import AcceptLead, LeadList, LeadRead, LeadSummary, TransitionRead
from baton_handoff.models import Lead
from baton_kit.http import DbSession

router = APIRouter(prefix="/v1/leads", tags=["leads"])

NOT_FOUND = {404: {"description": "No such lead"}}


async def _read(session: DbSession, lead: Lead) -> LeadRead:
    transitions = await service.timeline(session, lead.lead_id)
    return LeadRead.model_validate(
        {
            **LeadSummary.model_validate(lead).model_dump(),
            "definitions_version": lead.definitions_version,
            "created_at": lead.created_at,
            "score_explanation": lead.score_explanation,
            "timeline": [TransitionRead.model_validate(t) for t in transitions],
        }
    )


@router.get("", response_model=LeadList, summary="List leads, newest change first")
async def list_leads(
    session: DbSession,
    state: LeadState | None = None,
    rep_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> LeadList:
    leads, total = await service.list_leads(session, state=state, rep_id=rep_id, limit=limit, offset=offset)
    return LeadList(items=[LeadSummary.model_validate(lead) for lead in leads], total=total)


@router.get(
    "/{lead_id}", response_model=LeadRead, summary="A lead: state, score explanation, timeline", responses=NOT_FOUND
)
async def get_lead(lead_id: str, session: DbSession) -> LeadRead:
    return await _read(session, await service.get_lead_or_404(session, lead_id))


@router.post(
    "/{lead_id}/accept",
    response_model=LeadRead,
    summary="Accept an assigned lead (it becomes a SAL)",
    responses={
        **NOT_FOUND,
        409: {"description": "The lead is not assigned (body has `current_state`), or is assigned to another rep"},
    },
)
async def accept_lead(
    lead_id: str, body: AcceptLead, session: DbSession, runtime: RuntimeDep, definitions: DefinitionsDep
) -> LeadRead:
    actor = f"rep:{body.rep_id}" if body.rep_id else "crm"
    lead = await service.accept(
        session,
        lead_id=lead_id,
        rep_id=body.rep_id,
        actor=actor,
        definitions=definitions,
        outbox=runtime.outbox,
        now=runtime.clock.now(),
    )
    return await _read(session, lead)
