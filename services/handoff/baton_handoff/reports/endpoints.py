"""Reports for revenue leaders: how sales received the MQLs that marketing handed off, and what they became."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import AwareDatetime

from baton_handoff.dependencies import ReadKey, RuntimeDep
from baton_handoff.leads.endpoints import AUTH
from baton_handoff.reports import service
from baton_handoff.reports.rules import GroupBy, acceptance, acceptance_row, calibration, conversion, conversion_row
from baton_handoff.reports.schemas import (
    AcceptanceReportRead,
    AcceptanceRowRead,
    CalibrationRead,
    ConversionReportRead,
    ConversionRowRead,
)
from baton_kit.http import DbSession, report_period

router = APIRouter(prefix="/v1/reports", tags=["reports"])


RESPONSES: dict[int | str, dict[str, Any]] = {**AUTH, 422: {"description": "`since` is not before `until`"}}
Until = Annotated[AwareDatetime | None, Query(description="Default: now.")]


@router.get(
    "/acceptance",
    response_model=AcceptanceReportRead,
    summary="Sales acceptance of MQLs per fit grade, grade, qualification rule, segment, definitions version or rep",
    description="Every accept or reject of an assigned lead in the period, grouped by what the lead looked like "
    "when it qualified (its latest MQL before the decision), with the rejection reasons: which rules hand sales "
    "leads it takes, and which definitions change would help. A rep- or team-bound key sees its own decisions.",
    responses=RESPONSES,
)
async def get_acceptance(
    session: DbSession,
    runtime: RuntimeDep,
    principal: ReadKey,
    group_by: GroupBy = GroupBy.FIT_GRADE,
    since: Annotated[AwareDatetime | None, Query(description="Default: 28 days before `until`.")] = None,
    until: Until = None,
) -> AcceptanceReportRead:
    since, until = report_period(since, until, now=runtime.clock.now(), default_days=28)
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


@router.get(
    "/conversion",
    response_model=ConversionReportRead,
    summary="What a period's MQLs became (SAL, SQL, opportunity, won) per fit grade, band, rule, segment or rep",
    description="Every MQL made in the period, followed through the stages the CRM reported back "
    "(`/v1/leads/{lead_id}/sql`, `/opportunity`, `/won`, `/lost`) up to the lead's next MQL, grouped by what "
    "the lead looked like when it qualified. For fit grades and engagement bands, `calibration` says whether "
    "a better-ranked group turns MQLs into opportunities at least as often as the next one down. "
    "A rep-bound key sees the MQLs it held last; a team-bound key its team's.",
    responses=RESPONSES,
)
async def get_conversion(
    session: DbSession,
    runtime: RuntimeDep,
    principal: ReadKey,
    group_by: GroupBy = GroupBy.FIT_GRADE,
    since: Annotated[
        AwareDatetime | None,
        Query(description="Default: 90 days before `until` (B2B leads take weeks to months to become pipeline)."),
    ] = None,
    until: Until = None,
) -> ConversionReportRead:
    since, until = report_period(since, until, now=runtime.clock.now(), default_days=90)
    cohort = await service.cohort(session, since=since, until=until, rep_id=principal.rep_id, team_id=principal.team_id)
    rows = conversion(cohort, by=group_by)
    calibrated = calibration(rows, by=group_by)
    return ConversionReportRead(
        since=since,
        until=until,
        group_by=group_by,
        total=ConversionRowRead.model_validate(conversion_row("(all)", cohort, overall_rate=None)) if cohort else None,
        rows=[ConversionRowRead.model_validate(row) for row in rows],
        calibration=CalibrationRead.model_validate(calibrated) if calibrated else None,
    )
