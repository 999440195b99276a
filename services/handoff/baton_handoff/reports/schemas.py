from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from baton_handoff.reports.rules import MIN_COHORT, MIN_DECIDED, SIGNIFICANCE, CalibrationVerdict, GroupBy, Verdict


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


class ConversionRowRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    group: str = Field(description="The group's value, from the lead as it qualified; `(none)` when it had none.")
    mqls: int = Field(description="MQLs made in the period (a lead recycled and qualified again counts twice).")
    sal: int = Field(description="Of those, how many sales accepted (each stage counts every lead that passed it).")
    sql: int
    opportunity: int
    won: int
    lost: int
    rejected: int = Field(description="Rejected by sales (recycled or disqualified after, or not yet).")
    disqualified: int
    sal_rate: float = Field(description="sal / mqls")
    sql_rate: float = Field(description="sql / mqls")
    opportunity_rate: float = Field(description="opportunity / mqls")
    win_rate: float | None = Field(description="won / (won + lost); null until a deal closed.")
    won_amount: float = Field(description="The sum of the amounts the CRM reported with the won deals.")
    lift: float | None = Field(
        description="opportunity_rate against the whole period's: 2.0 turns MQLs into pipeline twice as often "
        "as the average MQL. Null for the total, and when the period has no opportunity."
    )


class InversionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    better: str = Field(description="The group the definitions rank higher (e.g. fit grade A).")
    worse: str = Field(description="The next group down that converts more often.")
    better_rate: float
    worse_rate: float
    p_value: float = Field(description="How often chance alone would give a gap this large (one-sided).")


class CalibrationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    metric: str = Field(description="The rate compared: MQL to opportunity.")
    compared: list[str] = Field(description=f"The groups with {MIN_COHORT} MQLs or more, best ranked first.")
    inversions: list[InversionRead]
    verdict: CalibrationVerdict = Field(
        description=f"`too_few` with fewer than two groups of {MIN_COHORT} MQLs, or no opportunity among them; "
        "`inverted` when a group converts more often than the one ranked above it, beyond chance "
        f"(two-proportion z-test, p < {SIGNIFICANCE}): the scoring model ranks leads in the wrong order; "
        "`calibrated` otherwise."
    )


class ConversionReportRead(BaseModel):
    since: datetime
    until: datetime
    group_by: GroupBy
    total: ConversionRowRead | None = Field(description="All groups together; null when nobody qualified.")
    rows: list[ConversionRowRead]
    calibration: CalibrationRead | None = Field(
        description="For `fit_grade` and `engagement_band`, which the definitions rank: does a better group turn "
        "MQLs into opportunities at least as often? Null for the other groupings."
    )
