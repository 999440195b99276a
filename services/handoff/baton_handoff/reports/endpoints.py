"""Reports for revenue leaders: how sales received the MQLs that marketing handed off."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from baton_handoff.dependencies import ReadKey, RuntimeDep
from baton_handoff.leads.endpoints import AUTH
from baton_handoff.reports import service
from baton_handoff.reports.rules import GroupBy, acceptance, acceptance_row
from baton_handoff.reports.schemas import AcceptanceReportRead, AcceptanceRowRead
from baton_kit.http import DbSession, Problem

router = APIRouter(prefix="/v1/reports", tags=["reports"])


class BadPeriod(Problem):
    status = 422
    title = "Bad report period"
    type = "https://baton.dev/problems/bad-report-period"


@router.get(
    "/acceptance",
    response_model=AcceptanceReportRead,
    summary="Sales acceptance of MQLs per fit grade, grade, qualification rule, segment, definitions version or rep",
    description="Every accept or reject of an assigned lead in the period, grouped by what the lead looked like "
    "when it qualified (its latest MQL before the decision), with the rejection reasons: which rules hand sales "
    "leads it takes, and which definitions change would help. A rep- or team-bound key sees its own decisions.",
    responses={**AUTH, 422: {"description": "`since` is not before `until`"}},
)
async def get_acceptance(
    session: DbSession,
    runtime: RuntimeDep,
    principal: ReadKey,
    group_by: GroupBy = GroupBy.FIT_GRADE,
    since: Annotated[AwareDatetime | None, Query(description="Default: 28 days before `until`.")] = None,
    until: Annotated[AwareDatetime | None, Query(description="Default: now.")] = None,
) -> AcceptanceReportRead:
    until = until or runtime.clock.now()
    since = since or until - timedelta(days=28)
    if since >= until:
        raise BadPeriod(
            "`since` must be before `until`", extra={"since": since.isoformat(), "until": until.isoformat()}
        )
    decided = await service.decisions(
        session, since=since, until=until, rep_id=principal.rep_id, team_id=principal.team_id
    )
    return AcceptanceReportRead(
        since=since,
        until=until,
        group_by=group_by,
        total=AcceptanceRowRead.model_validate(acceptance_row("(all)", decided)) if decided else None,
        rows=[AcceptanceRowRead.model_validate(row) for row in acceptance(decided, by=group_by)],
    )
