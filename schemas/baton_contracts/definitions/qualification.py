"""The qualification section of the definitions: when a scored lead becomes an MQL.

Read top to bottom, the gate is: disqualifiers (any negative indicator scoring reports, unless
ignored here) → required profile fields (missing: held until enriched) → re-MQL cool-down for
recycled leads → the fit bar (the grades listed in `matrix`) → the engagement bar for that grade,
or the high-intent fast-track, or the buying-committee signal. A lead scored without a fit grade
(a scoring version that does not grade) falls back to `mql_threshold` on the total score.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from baton_contracts.definitions.base import Strict

FitGrade = Literal["A", "B", "C", "D"]
ProfileField = Literal["email", "company", "country", "domain", "title", "employees", "industry"]


def _default_matrix() -> dict[FitGrade, int]:
    return {"A": 2, "B": 2, "C": 3}


def _default_required_fields() -> list[ProfileField]:
    return ["company", "country"]


class FastTrack(Strict):
    """High-intent activities that skip the engagement bar (never the fit bar)."""

    signals: list[str] = Field(
        default_factory=lambda: ["demo_request", "contact_sales", "pricing_page_view+form_submit"],
        description="Names scoring reports in `high_intent`; any one of them fast-tracks.",
    )


class BuyingCommittee(Strict):
    """Several engaged people at one account: qualifies a fit lead below the engagement bar."""

    min_engaged_stakeholders: int = Field(default=3, ge=2)


class QualificationDefinitions(Strict):
    mql_threshold: float = Field(
        gt=0, description="Fallback for leads scored without a fit grade: a total score that makes an MQL."
    )
    matrix: dict[FitGrade, int] = Field(
        default_factory=_default_matrix,
        description="Fit grade → lowest engagement band (1-4) that qualifies. A grade not listed never qualifies "
        "(it is below the fit bar).",
        examples=[{"A": 1, "B": 2, "C": 3}],
    )
    fast_track: FastTrack = Field(default_factory=FastTrack)
    buying_committee: BuyingCommittee | None = Field(default_factory=BuyingCommittee)
    required_fields: list[ProfileField] = Field(
        default_factory=_default_required_fields,
        description="Profile fields an MQL must have; a lead missing one is held until enriched. Checked when "
        "scoring sends a profile.",
    )
    ignore_disqualifiers: list[str] = Field(
        default_factory=list, description="Negative indicators scoring reports that do not disqualify here."
    )
    recycle_cooldown_days: int = Field(
        default=30, ge=0, description="A recycled lead cannot become an MQL again for this many days."
    )
