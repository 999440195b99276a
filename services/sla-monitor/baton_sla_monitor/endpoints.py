from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime

from baton_contracts.events import SlaClockKind
from baton_kit.clock import Clock
from baton_kit.http import DbSession as Session
from baton_kit.http import Problem, report_period
from baton_sla_monitor.reports import GroupBy, attainment
from baton_sla_monitor.rules import ClockState
from baton_sla_monitor.schemas import AttainmentReportRead, AttainmentRowRead, ClockSummaryRead, LeadClocksRead
from baton_sla_monitor.service import clocks_for_report, count_clocks, lead_clocks

router = APIRouter(prefix="/v1", tags=["clocks"])


class LeadNotFound(Problem):
    status = 404
    title = "Lead not found"
    type = "https://baton.dev/problems/lead-not-found"


def runtime_clock(request: Request) -> Clock:
    clock: Clock = request.app.state.runtime.clock
    return clock


Now = Annotated[Clock, Depends(runtime_clock)]


@router.get(
    "/leads/{lead_id}/clocks",
    response_model=LeadClocksRead,
    summary="A lead's milestones and SLA clocks",
    responses={404: {"description": "No lifecycle change has been seen for this lead"}},
)
async def get_lead_clocks(lead_id: str, session: Session, clock: Now) -> LeadClocksRead:
    found = await lead_clocks(session, lead_id=lead_id)
    if found is None:
        raise LeadNotFound(f"no lifecycle change seen for lead {lead_id!r}")
    milestones, clocks, steps = found
    return LeadClocksRead.from_lead(lead_id, milestones, clocks, now=clock.now(), steps=steps)


@router.get("/clocks/summary", response_model=ClockSummaryRead, summary="How many clocks are in each state, per kind")
async def get_clock_summary(session: Session, clock: Now) -> ClockSummaryRead:
    counts = await count_clocks(session)
    by_kind = {kind: dict.fromkeys(ClockState, 0) for kind, _ in counts}
    for (kind, state), count in counts.items():
        by_kind[kind][state] = count
    return ClockSummaryRead(as_of=clock.now(), by_kind=by_kind)


@router.get(
    "/reports/attainment",
    response_model=AttainmentReportRead,
    summary="SLA attainment per rep, team, source or policy for a period, with p50/p90 times",
)
async def get_attainment(
    session: Session,
    clock: Now,
    group_by: GroupBy = GroupBy.REP,
    kind: SlaClockKind | None = None,
    since: Annotated[AwareDatetime | None, Query(description="Default: 7 days before `until`.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Default: now.")] = None,
) -> AttainmentReportRead:
    now = clock.now()
    since, until = report_period(since, until, now=now, default_days=7)
    clocks = await clocks_for_report(session, since=since, until=until, kind=kind)
    rows = attainment(clocks, group_by=group_by, now=now)
    return AttainmentReportRead(
        since=since, until=until, group_by=group_by, kind=kind, rows=[AttainmentRowRead.from_row(r) for r in rows]
    )
