"""Reads for the reports: sales' decisions in a period, each with the MQL it answers; a period's
MQLs, each with every transition its lead made after it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from baton_contracts.events import LeadState
from baton_handoff.models import Lead, LifecycleTransition, Rep
from baton_handoff.reports.rules import Converted, Decided, Qualified, Step, converted, qualified_before


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
    if team_id is not None:  # decisions its reps made, wherever the lead went since
        query = query.where(decision.rep_id.in_(_reps_of(team_id)))
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


async def cohort(
    session: AsyncSession, *, since: datetime, until: datetime, rep_id: str | None = None, team_id: str | None = None
) -> list[Converted]:
    """The MQLs made in [since, until), each followed to the lead's next MQL; optionally only those a
    rep held last, or a rep of a team."""
    mql, later = aliased(LifecycleTransition), aliased(LifecycleTransition)
    query = (
        select(
            mql.id,
            mql.at,
            mql.details,
            mql.definitions_version,
            Lead.segment,
            later.to_state,
            later.rep_id,
            later.details,
        )
        .join(Lead, Lead.lead_id == mql.lead_id)
        # A lead's transitions are numbered in the order it made them, whatever their timestamps.
        .outerjoin(later, and_(later.lead_id == mql.lead_id, later.id > mql.id))
        .where(mql.to_state == LeadState.MQL, mql.at >= since, mql.at < until)
        .order_by(mql.id, later.id)
    )
    found: dict[int, tuple[Qualified, str | None, list[Step]]] = {}
    for mql_id, at, details, version, segment, to_state, step_rep, step_details in await session.execute(query):
        _, _, steps = found.setdefault(mql_id, (Qualified(at, details or {}, version), segment, []))
        if to_state is not None:
            steps.append(Step(to_state, step_rep, (step_details or {}).get("amount")))
    followed = [converted(qualified, segment, steps) for qualified, segment, steps in found.values()]
    team = None if team_id is None else set(await session.scalars(_reps_of(team_id)))
    return [
        mql for mql in followed if (rep_id is None or mql.rep_id == rep_id) and (team is None or mql.rep_id in team)
    ]


def _reps_of(team_id: str) -> Select[str]:
    """A team's reps: reports bound to a team count what its reps decided and held, not where the
    lead sits now (a lead reassigned to another team keeps its first rep's decision in this team's)."""
    return select(Rep.rep_id).where(Rep.team_id == team_id)
