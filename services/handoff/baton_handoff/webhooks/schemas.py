"""The generic JSON webhook format: a batch of engagement events, each with an optional profile."""

from __future__ import annotations

from typing import Self

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue, model_validator


class GenericProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    company: str | None = None
    domain: str | None = None
    employees: int | None = Field(default=None, ge=0)
    industry: str | None = None
    country: str | None = None
    technologies: list[str] | None = None


class GenericEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=200, description="The sender's unique id: the dedupe key.")
    lead_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Stable lead id from the sender; derived from `email` when absent.",
    )
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+$")
    activity: str = Field(min_length=1, max_length=100, examples=["page_view"])
    occurred_at: AwareDatetime
    properties: dict[str, JsonValue] = Field(default_factory=dict)
    profile: GenericProfile | None = None

    @model_validator(mode="after")
    def _identified(self) -> Self:
        if self.lead_id is None and self.email is None:
            raise ValueError("each event needs a lead_id or an email")
        return self


class GenericWebhook(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source": "website",
                    "events": [
                        {
                            "external_id": "evt-20261102-000123",
                            "email": "maria.lopez@acme-analytics.example",
                            "activity": "pricing_page_view",
                            "occurred_at": "2026-11-02T14:03:00+00:00",
                            "properties": {"url": "/pricing"},
                            "profile": {
                                "first_name": "María",
                                "last_name": "López",
                                "title": "VP Data",
                                "company": "Acme Analytics",
                                "employees": 420,
                                "country": "ES",
                            },
                        }
                    ],
                }
            ]
        },
    )

    source: str = Field(default="generic", min_length=1, max_length=100, pattern=r"^[a-z0-9][a-z0-9._-]*$")
    events: list[GenericEvent] = Field(min_length=1)


class IngestResult(BaseModel):
    accepted: int = Field(description="Events stored now and on their way to scoring.")
    duplicates: int = Field(description="Events already received before (same source and external_id): no effect.")
    ignored: int = Field(
        default=0, description="Events the source's mapping skips (e.g. deletions, anonymous visitors): no effect."
    )
    lead_ids: list[str]
