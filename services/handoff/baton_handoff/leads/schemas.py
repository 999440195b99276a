from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from baton_contracts.events import LeadState


class TransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    from_state: LeadState | None
    to_state: LeadState
    at: datetime
    actor: str
    reason: str
    rep_id: str | None
    definitions_version: str
    cause_event_id: str | None
    details: dict[str, Any]


class LeadSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    lead_id: str
    state: LeadState
    score: float
    rep_id: str | None
    updated_at: datetime


class LeadRead(LeadSummary):
    definitions_version: str
    created_at: datetime
    score_explanation: list[dict[str, Any]] = Field(description="Each scoring rule's contribution.")
    timeline: list[TransitionRead] = Field(description="Every lifecycle transition, oldest first.")


class LeadList(BaseModel):
    items: list[LeadSummary]
    total: int


class AcceptLead(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rep_id": "ana.ortiz"}]})

    rep_id: str | None = Field(default=None, description="The accepting rep; must be the assigned rep when given.")
