"""The CRM contract's request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AcceptLead(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"rep_id": "ana.ortiz"}]})

    rep_id: str | None = Field(
        default=None, max_length=100, description="The accepting rep; must be the assigned rep when given."
    )


class RejectLead(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "no_fit", "sub_reason": "company_too_small"},
                {"reason": "bad_timing", "recycle_on": "2027-02-01T00:00:00Z"},
                {"reason": "other", "note": "asked to be contacted by their reseller"},
            ]
        },
    )

    reason: str = Field(min_length=1, max_length=60, description="A code of the rejection taxonomy (definitions).")
    sub_reason: str | None = Field(default=None, max_length=60, description="Required for codes with sub-reasons.")
    note: str | None = Field(default=None, max_length=2000, description="Required for codes that require one.")
    recycle_on: AwareDatetime | None = Field(
        default=None, description="Recycle the lead now, and let it become an MQL again from this date."
    )
    rep_id: str | None = Field(default=None, max_length=100, description="The rejecting rep (the assigned one).")


class FirstResponse(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"channel": "call", "occurred_at": "2026-11-23T10:05:00Z", "external_activity_id": "task-00912"}
            ]
        },
    )

    channel: Literal["call", "email", "sms", "meeting", "chat", "social", "other"]
    occurred_at: AwareDatetime
    external_activity_id: str | None = Field(default=None, max_length=200)


class Disqualify(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "competitor", "note": "works at a competitor"}]}
    )

    reason: str = Field(min_length=1, max_length=100)
    note: str | None = Field(default=None, max_length=2000)


class Recycle(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"recycle_on": "2027-01-15T00:00:00Z"}]})

    recycle_on: AwareDatetime | None = Field(
        default=None, description="Earliest re-MQL; default: now + the definitions' cool-down."
    )
    note: str | None = Field(default=None, max_length=2000)


class Reassign(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "rep on leave"}, {"rep_id": "ben.carter", "reason": "territory"}]},
    )

    rep_id: str | None = Field(
        default=None, max_length=100, description="The new rep; omitted: routed again, skipping previous assignees."
    )
    reason: str = Field(min_length=1, max_length=500)


class StageUpdate(_Body):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"external_id": "006Dn000004XyZ", "amount": 42000, "note": "signed"}]},
    )

    external_id: str | None = Field(default=None, max_length=200, description="The CRM's opportunity or record id.")
    amount: float | None = Field(default=None, ge=0)
    note: str | None = Field(default=None, max_length=2000)


DeliveryStatus = Literal["pending", "delivered", "failed"]


class DeliveryRead(BaseModel):
    """One outbound CRM webhook message and how its delivery went."""

    id: int
    message_id: str = Field(description="The `webhook-id` header: the same on every try of this message.")
    lead_id: str
    event_type: str
    status: DeliveryStatus
    attempts: int = Field(description="Tries since the message was written, or since it was last sent again.")
    next_attempt_at: datetime | None = Field(description="When a pending delivery is tried next.")
    last_error: str | None = Field(
        description="The last failed try's answer: `HTTP <status>: <body>`, or why none came."
    )
    created_at: datetime
    delivered_at: datetime | None
    failed_at: datetime | None


class DeliveryDetail(DeliveryRead):
    payload: dict[str, Any] = Field(description="The body as sent (the lead, assignee, routing and score).")


class DeliveryList(BaseModel):
    items: list[DeliveryRead]
    total: int


class RetryFailed(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"since": "2026-11-30T00:00:00Z"}, {"lead_id": "lead-42"}]}
    )

    since: AwareDatetime | None = Field(default=None, description="Only deliveries that failed at or after this.")
    lead_id: str | None = Field(default=None, max_length=200, description="Only this lead's deliveries.")


class RetryResult(BaseModel):
    retried: int = Field(description="Failed deliveries now pending again, due at once.")
    superseded: int = Field(
        description="Failed deliveries left alone because a later delivery of the same lead was delivered or is "
        "on its way."
    )
