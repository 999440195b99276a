from __future__ import annotations

from fastapi import APIRouter

from baton_kit.http import DbSession as Session
from baton_kit.http import Problem
from baton_scoring.models import LeadScore
from baton_scoring.schemas import LeadScoreRead

router = APIRouter(prefix="/v1", tags=["scores"])


class LeadNotScored(Problem):
    status = 404
    title = "Lead not scored"
    type = "https://baton.dev/problems/lead-not-found"


@router.get(
    "/leads/{lead_id}/score",
    response_model=LeadScoreRead,
    summary="A lead's score and its explanation",
    responses={404: {"description": "No event has been scored for this lead"}},
)
async def get_lead_score(lead_id: str, session: Session) -> LeadScoreRead:
    row = await session.get(LeadScore, lead_id)
    if row is None:
        raise LeadNotScored(f"no score for lead {lead_id!r}")
    return LeadScoreRead.model_validate(row, from_attributes=True)
