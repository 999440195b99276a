"""Scoring's HTTP response models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from baton_contracts.events import ScoreContribution


class LeadScoreRead(BaseModel):
    lead_id: str
    score: float
    contributions: list[ScoreContribution]
    definitions_version: str
    last_event_at: datetime
    updated_at: datetime
