"""The outbound CRM webhook's bodies: what a CRM integration receives, signed per Standard Webhooks.

`type` says which body it is; `event_id` is the `lead.lifecycle` event (and the lead's timeline
entry) it reports. The handoff builds every body through these models, and `schemas/json/` holds
their JSON Schemas (`crm-webhook.<type>.schema.json`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, Field


class CrmLead(BaseModel):
    """The lead as every body carries it."""

    lead_id: str
    state: str
    profile: dict[str, Any] | None = Field(description="What marketing knows: email, name, title, company, size ...")
    score: float
    fit_grade: str | None
    engagement_band: int | None
    grade: str | None
    intent: str | None = Field(description="`high` when a high-intent action (demo request ...) qualified it.")
    segment: str | None


class Assignee(BaseModel):
    rep_id: str
    team_id: str
    email: str
    name: str


class Routing(BaseModel):
    rule: str = Field(description="How the rep was chosen: `account_owner`, `rule:<name>`, `round_robin` ...")
    reason: str
    details: dict[str, Any]


class EngagementHistory(BaseModel):
    activities: list[dict[str, Any]] = Field(description="The engagement lines of the score breakdown.")
    high_intent: list[str]
    demand_state: str | None


class LeadAssigned(BaseModel):
    """A lead was assigned (or reassigned) to a rep: make it theirs, with why it is worth their time."""

    type: Literal["lead.assigned"] = "lead.assigned"
    event_id: str
    at: AwareDatetime
    lead: CrmLead
    assignee: Assignee
    routing: Routing
    qualification: dict[str, Any] = Field(description="The MQL decision: rule, reason, values, definitions version.")
    score_breakdown: list[dict[str, Any]] = Field(description="Every scoring rule's contribution.")
    engagement_history: EngagementHistory
    account: dict[str, Any] | None = Field(description="The matched account, when there is one.")
    source: str | None = Field(description="The lead's first ingestion source.")
    definitions_version: str | None


class PreviousAssignee(BaseModel):
    rep_id: str
    team_id: str | None


class LeadDisqualified(BaseModel):
    """A lead its rep held was disqualified under them (a later score found a negative indicator): stop
    working it."""

    type: Literal["lead.disqualified"] = "lead.disqualified"
    event_id: str
    at: AwareDatetime
    lead: CrmLead
    previous_assignee: PreviousAssignee
    reason: str
    disqualifiers: list[str]
    definitions_version: str | None


CRM_WEBHOOK_BODIES: dict[str, type[BaseModel]] = {"lead.assigned": LeadAssigned, "lead.disqualified": LeadDisqualified}


def body(packet: LeadAssigned | LeadDisqualified) -> dict[str, Any]:
    """The JSON a delivery stores and sends."""
    dumped: dict[str, Any] = packet.model_dump(mode="json")
    return dumped
