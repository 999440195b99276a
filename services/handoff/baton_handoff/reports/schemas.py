from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from baton_handoff.reports.rules import MIN_DECIDED, GroupBy, Verdict


class AcceptanceRowRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    group: str = Field(description="The group's value; `(none)` when the lead had none (e.g. no segment).")
    decided: int = Field(description="Assigned leads sales accepted or rejected in the period.")
    accepted: int
    rejected: int
    acceptance_rate: float = Field(description="accepted / decided")
    verdict: Verdict = Field(
        description=f"`too_few` under {MIN_DECIDED} decided; `healthy` at 80% and above; `watch` from 70%; "
        "`misaligned` below 70% (the MQL definitions and sales disagree)."
    )
    rejection_reasons: dict[str, int] = Field(description="Rejections per reason of the taxonomy, most first.")


class AcceptanceReportRead(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    total: AcceptanceRowRead | None = Field(description="All groups together; null when nothing was decided.")
    rows: list[AcceptanceRowRead]
