from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter

from baton_contracts.events import AccountSnapshot, LeadProfile, ScoreContribution
from baton_kit.http import DbSession, Problem
from baton_scoring.models import Lead, ScoreHistory
from baton_scoring.schemas import LeadScoreRead, ScoreHistoryEntry

router = APIRouter(prefix="/v1", tags=["scores"])
HISTORY_LIMIT = 100


class LeadNotScored(Problem):
    status = 404
    title = "Lead not scored"
    type = "https://baton.dev/problems/lead-not-found"


@router.get(
    "/leads/{lead_id}/score",
    response_model=LeadScoreRead,
    summary="A lead's score, its explanation and its score history",
    responses={404: {"description": "No event has been scored for this lead"}},
)
async def get_lead_score(lead_id: str, session: DbSession) -> LeadScoreRead:
    row = await session.get(Lead, lead_id)
    if row is None:
        raise LeadNotScored(f"no score for lead {lead_id!r}")
    history = await session.scalars(
        sa.select(ScoreHistory)
        .where(ScoreHistory.lead_id == lead_id)
        .order_by(ScoreHistory.id.desc())
        .limit(HISTORY_LIMIT)
    )
    return LeadScoreRead(
        lead_id=row.lead_id,
        score=row.score,
        fit_score=row.fit_score,
        engagement_score=row.engagement_score,
        fit_grade=row.fit_grade,
        engagement_band=row.engagement_band,
        grade=row.grade,
        demand_state=row.demand_state,
        disqualifiers=row.disqualifiers,
        high_intent=row.high_intent,
        profile=LeadProfile.model_validate(row.profile),
        account=AccountSnapshot.model_validate(row.account) if row.account else None,
        contributions=[ScoreContribution.model_validate(c) for c in row.contributions],
        definitions_version=row.definitions_version,
        scored_at=row.scored_at,
        last_event_at=row.last_event_at,
        next_review_at=row.review_at,
        history=[ScoreHistoryEntry.model_validate(h, from_attributes=True) for h in history],
    )
