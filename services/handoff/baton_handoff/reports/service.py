"""Reads for the reports: sales' decisions in a period, each with the MQL it answers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from baton_contracts.events import LeadState
from baton_handoff.models import Lead, LifecycleTransition
from baton_handoff.reports.rules import Decided, Qualified, qualified_before


async def decisions(
    session: AsyncSession, *, since: datetime, until: datetime, rep_id: str | None = None, team_id: str | None = None
) -> list[Decided]:
    """Accepts and rejects of assigned leads made in [since, until), optionally one rep's or team's."""
    decision, mql = aliased(LifecycleTransition), aliased(LifecycleTransition)
    query = (
        select(decision, Lead.segment, mql.at, mql.details, mql.definitions_version)
        .join(Lead, Lead.lead_id == decision.lead_id)
        .outerjoin(mql, and_(mql.lead_id == decision.lead_id, mql.to_state == LeadState.MQL, mql.at <= decision.at))
        .where(
            decision.from_state == LeadState.ASSIGNED,
            decision.to_state.in_([LeadState.SAL, LeadState.REJECTED]),
            decision.at >= since,
            decision.at < until,
        )
    )
    if rep_id is not None:
        query = query.where(decision.rep_id == rep_id)
    if team_id is not None:
        query = query.where(Lead.team_id == team_id)
    found: dict[int, tuple[LifecycleTransition, str | None, list[Qualified]]] = {}
    for row, segment, mql_at, mql_details, mql_version in await session.execute(query):
        _, _, mqls = found.setdefault(row.id, (row, segment, []))
        if mql_at is not None:
            mqls.append(Qualified(at=mql_at, details=mql_details or {}, definitions_version=mql_version))
    return [
        Decided(
            accepted=row.to_state == LeadState.SAL,
            rejection_reason=(row.details or {}).get("reason") if row.to_state == LeadState.REJECTED else None,
            rep_id=row.rep_id,
            segment=segment,
            qualified=qualified_before(mqls, row.at),
        )
        for row, segment, mqls in found.values()
    ]
