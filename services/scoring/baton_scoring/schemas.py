"""Scoring's HTTP response models."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from baton_contracts.events import AccountSnapshot, LeadProfile, ScoreContribution


class ScoreHistoryEntry(BaseModel):
    """One emitted `lead.scored`, newest first."""

    event_id: str = Field(description="The `lead.scored` event id.")
    reason: Literal["event", "decay"] = Field(description="`event`: new engagement; `decay`: the scheduled review.")
    score: float
    fit_score: float
    engagement_score: float
    grade: str
    demand_state: str
    high_intent: list[str]
    cause_event_id: str | None
    definitions_version: str
    scored_at: datetime


class LeadScoreRead(BaseModel):
    """The lead's latest score with its full explanation, as of `scored_at`, and its score history."""

    lead_id: str
    score: float = Field(description="Fit + engagement.")
    fit_score: float
    engagement_score: float
    fit_grade: Literal["A", "B", "C", "D"]
    engagement_band: int
    grade: str = Field(examples=["B2"])
    demand_state: str
    disqualifiers: list[str]
    high_intent: list[str]
    profile: LeadProfile
    account: AccountSnapshot | None
    contributions: list[ScoreContribution] = Field(
        description="Every fit criterion, negative indicator and engagement rule: raw points, decay, caps."
    )
    definitions_version: str
    scored_at: datetime
    last_event_at: datetime | None
    next_review_at: datetime | None = Field(description="When decay may next change the band, demand or intent.")
    history: list[ScoreHistoryEntry] = Field(description="Scores emitted for this lead, newest first (up to 100).")
