from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from baton_contracts.events import LeadState
from baton_handoff.crm.schemas import DeliveryRead

LEAD_EXAMPLE: dict[str, JsonValue] = {
    "lead_id": "lead-7f3a",
    "state": "assigned",
    "score": 71,
    "grade": "A2",
    "fit_grade": "A",
    "engagement_band": 2,
    "rep_id": "ana.ortiz",
    "team_id": "default",
    "segment": "mid_market",
    "intent": "high",
    "updated_at": "2026-11-23T10:00:02Z",
}


class TransitionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    event_id: str = Field(
        description="The `lead.lifecycle` event's id; a CRM webhook packet about it carries the same."
    )
    from_state: LeadState | None
    to_state: LeadState
    at: datetime
    actor: str
    reason: str
    rep_id: str | None
    definitions_version: str
    cause_event_id: str | None
    details: dict[str, Any]


class ClockRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    clock_id: str
    kind: str
    policy: str
    rep_id: str | None
    state: str = Field(description="running, warned, breached, met or cancelled, as the SLA monitor reported.")
    started_at: datetime
    due_at: datetime
    escalation_level: int


class LeadSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [LEAD_EXAMPLE]})

    lead_id: str
    state: LeadState
    score: float
    grade: str | None = None
    fit_grade: str | None = None
    engagement_band: int | None = None
    rep_id: str | None
    team_id: str | None = None
    segment: str | None = None
    intent: str | None = None
    queued_at: datetime | None = None
    updated_at: datetime


class LeadRead(LeadSummary):
    definitions_version: str
    created_at: datetime
    profile: dict[str, Any] | None = None
    account_id: str | None = None
    scoring: dict[str, Any] | None = Field(default=None, description="What scoring reported last.")
    qualification: dict[str, Any] | None = Field(
        default=None, description="The last qualification decision: outcome, rule, reason, values, definitions version."
    )
    first_response: dict[str, Any] | None = None
    requalify_after: datetime | None = None
    score_explanation: list[dict[str, Any]] = Field(description="Each scoring rule's contribution.")
    timeline: list[TransitionRead] = Field(description="Every lifecycle transition, oldest first.")
    sla_clocks: list[ClockRead] = Field(default_factory=list, description="SLA clocks as reported on sla.events.")
    crm_deliveries: list[DeliveryRead] = Field(
        default_factory=list,
        description="What the CRM webhook sent about this lead and how it went, oldest first: the proof that "
        "sales' system was told (empty when no CRM webhook is configured).",
    )


class LeadList(BaseModel):
    items: list[LeadSummary]
    total: int
