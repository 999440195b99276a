"""Event data models. One CloudEvents `type` per model; see `EVENT_DATA_MODELS`.

Lifecycle changes use one type, `baton.lead.lifecycle_changed`, with `from_state`/`to_state`:
consumers switch on the states, and a new transition needs no new type.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, JsonValue

LeadIdField = Annotated[str, Field(min_length=1, max_length=200, description="Stable lead id.")]


class EventType(StrEnum):
    ENGAGEMENT_RECORDED = "baton.engagement.recorded"
    PROFILE_UPDATED = "baton.profile.updated"
    LEAD_SCORED = "baton.lead.scored"
    LIFECYCLE_CHANGED = "baton.lead.lifecycle_changed"
    SLA_CLOCK_STARTED = "baton.sla.clock_started"
    SLA_CLOCK_WARNED = "baton.sla.clock_warned"
    SLA_CLOCK_BREACHED = "baton.sla.clock_breached"
    SLA_CLOCK_MET = "baton.sla.clock_met"
    SLA_CLOCK_CANCELLED = "baton.sla.clock_cancelled"
    SLA_CLOCK_ESCALATED = "baton.sla.clock_escalated"
    SLA_ALERT_RESOLVED = "baton.sla.alert_resolved"
    SLA_REASSIGN_REQUESTED = "baton.sla.reassign_requested"
    LEAD_ROUTING_QUEUED = "baton.lead.routing_queued"
    FIRST_RESPONSE_RECORDED = "baton.lead.first_response_recorded"


class LeadState(StrEnum):
    KNOWN = "known"
    MQL = "mql"
    ASSIGNED = "assigned"
    SAL = "sal"
    SQL = "sql"
    OPPORTUNITY = "opportunity"
    WON = "won"
    LOST = "lost"
    REJECTED = "rejected"
    RECYCLED = "recycled"
    DISQUALIFIED = "disqualified"


class SlaClockKind(StrEnum):
    ASSIGNMENT = "assignment"
    ACCEPTANCE = "acceptance"
    FIRST_RESPONSE = "first_response"


class _Data(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EngagementRecorded(_Data):
    """Something a lead did. `activity` is an open vocabulary: unknown activities are kept and score 0."""

    lead_id: LeadIdField
    activity: str = Field(min_length=1, max_length=100, examples=["page_view", "demo_request"])
    occurred_at: AwareDatetime
    source: str = Field(min_length=1, max_length=100, description="Sending system, e.g. `hubspot`.")
    external_id: str | None = Field(default=None, max_length=200, description="The sender's id for it.")
    email: str | None = Field(default=None, max_length=320)
    properties: dict[str, JsonValue] = Field(default_factory=dict, description='e.g. `{"url": "/pricing"}`')


class ProfileFields(_Data):
    """Profile fields. In an update a field left out (None) is unchanged, not cleared."""

    email: str | None = Field(default=None, max_length=320)
    first_name: str | None = None
    last_name: str | None = None
    title: str | None = None
    seniority: str | None = None
    department: str | None = None
    company: str | None = None
    domain: str | None = None
    employees: int | None = Field(default=None, ge=0)
    industry: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2")
    technologies: list[str] | None = None


class ProfileUpdated(ProfileFields):
    """What is now known about a lead."""

    lead_id: LeadIdField
    occurred_at: AwareDatetime
    source: str = Field(min_length=1, max_length=100)


class LeadProfile(ProfileFields):
    """The lead's profile as scoring knows it (all updates merged), carried on `lead.scored` so that
    qualification (required fields) and routing (territory, account match) need no other source."""


class ScoreContribution(_Data):
    """One line of a score's explanation."""

    rule: str = Field(description="What earned the points, e.g. `activity:page_view` or `fit:industry`.")
    category: Literal["fit", "engagement", "account"] = "engagement"
    count: int = Field(ge=0, description="How many events or matches it covers.")
    raw_points: float | None = Field(default=None, description="Points before decay and caps.")
    decay_factor: float | None = Field(default=None, ge=0, le=1, description="1.0 = no decay (fit never decays).")
    points: float = Field(description="Current points from this rule, after decay and caps.")
    caps_applied: list[str] = Field(default_factory=list, description="e.g. `daily_cap:page_view`, `total_cap`.")


class AccountSnapshot(_Data):
    """The lead's account as scoring sees it (from the email domain; free-mail domains have none)."""

    account_key: str = Field(description="Normalised email domain, e.g. `acme.example`.")
    engaged_stakeholders: int = Field(ge=0, description="Leads at the account with engagement above the bar.")
    engagement_score: float = Field(description="The account's engagement score.")


class LeadScored(_Data):
    lead_id: LeadIdField
    score: float = Field(description="The lead's total score (fit + engagement).")
    fit_score: float = 0.0
    engagement_score: float = 0.0
    fit_grade: Literal["A", "B", "C", "D"] | None = Field(default=None, description="Fit band, A best.")
    engagement_band: int | None = Field(default=None, ge=1, le=4, description="Engagement band, 1 lowest.")
    grade: str | None = Field(default=None, description="Fit grade and engagement band, e.g. `A3`.", examples=["B2"])
    demand_state: Literal["unaware", "problem_aware", "solution_aware", "partner_aware"] | None = None
    disqualifiers: list[str] = Field(
        default_factory=list, description="Negative indicators that disqualify, e.g. `competitor_domain`."
    )
    high_intent: list[str] = Field(
        default_factory=list,
        description="High-intent activities in the recent window (fast-track), e.g. `demo_request`.",
    )
    profile: LeadProfile | None = None
    account: AccountSnapshot | None = None
    contributions: list[ScoreContribution] = Field(default_factory=list)
    scored_at: AwareDatetime
    definitions_version: str
    cause_event_id: str | None = Field(default=None, description="The event that triggered this scoring.")


class Assignee(_Data):
    """Who holds the lead, with what the SLA monitor needs to run clocks and escalate."""

    rep_id: str
    team_id: str | None = None
    timezone: str | None = Field(
        default=None,
        description="IANA time zone of the rep's working hours; None: the rep states none (its calendar's zone).",
    )
    country: str | None = Field(default=None, description="ISO country of the rep's holidays.")
    calendar: str | None = Field(default=None, description="Business calendar name in the definitions.")
    manager_id: str | None = None


class LifecycleChanged(_Data):
    """One immutable lifecycle transition of a lead."""

    lead_id: LeadIdField
    from_state: LeadState | None = Field(description="None when the lead first becomes known.")
    to_state: LeadState
    at: AwareDatetime
    actor: str = Field(description="`system`, `rep:<id>` or an API client's name.")
    reason: str
    definitions_version: str
    cause_event_id: str | None = None
    rep_id: str | None = Field(default=None, description="The assigned rep, for assigned and later states.")
    assignee: Assignee | None = Field(default=None, description="The assigned rep's team and calendar.")
    segment: str | None = Field(default=None, description="Routing segment, e.g. `mid_market`; picks SLA targets.")
    intent: Literal["high", "standard"] | None = Field(default=None, description="`high` for fast-track MQLs.")
    details: dict[str, JsonValue] = Field(default_factory=dict, description="The values behind the decision.")


class _SlaClockData(_Data):
    clock_id: str
    lead_id: LeadIdField
    kind: SlaClockKind
    policy: str
    rep_id: str | None = None
    started_at: AwareDatetime
    due_at: AwareDatetime


class SlaClockStarted(_SlaClockData):
    pass


class SlaClockWarned(_SlaClockData):
    at: AwareDatetime
    percent: int = Field(ge=1, le=100, description="How much of the target has elapsed.")


class SlaClockBreached(_SlaClockData):
    at: AwareDatetime


class SlaClockMet(_SlaClockData):
    at: AwareDatetime
    late: bool = Field(description="True when the clock was met after its due time.")
    elapsed_seconds: float = Field(ge=0)


class SlaClockCancelled(_SlaClockData):
    """The clock stopped without being met: the lead was reassigned (a new clock starts) or left the stage."""

    at: AwareDatetime
    reason: str = Field(description="The lifecycle transition that stopped it, e.g. `assigned->disqualified`.")


class SlaClockEscalated(_SlaClockData):
    at: AwareDatetime
    level: int = Field(ge=1)
    target: str = Field(description="Who was notified: `owner`, `manager`, `on_call`…")


class SlaAlertResolved(_SlaClockData):
    at: AwareDatetime


class SlaReassignRequested(_SlaClockData):
    """The policy says a breach reassigns the lead: the handoff service acts on this."""

    at: AwareDatetime
    reason: str


class LeadRoutingQueued(_Data):
    """An MQL no one is eligible to take (an alert): it waits in the fallback queue. On `lead.lifecycle`."""

    lead_id: LeadIdField
    at: AwareDatetime
    queue: str
    team_id: str | None = None
    reason: str
    definitions_version: str
    details: dict[str, JsonValue] = Field(default_factory=dict)


class FirstResponseRecorded(_Data):
    """The CRM reported the rep's first response (the earliest one wins). On `lead.lifecycle`."""

    lead_id: LeadIdField
    rep_id: str | None = None
    channel: str
    occurred_at: AwareDatetime
    external_activity_id: str | None = None


EVENT_DATA_MODELS: dict[EventType, type[BaseModel]] = {
    EventType.ENGAGEMENT_RECORDED: EngagementRecorded,
    EventType.PROFILE_UPDATED: ProfileUpdated,
    EventType.LEAD_SCORED: LeadScored,
    EventType.LIFECYCLE_CHANGED: LifecycleChanged,
    EventType.SLA_CLOCK_STARTED: SlaClockStarted,
    EventType.SLA_CLOCK_WARNED: SlaClockWarned,
    EventType.SLA_CLOCK_BREACHED: SlaClockBreached,
    EventType.SLA_CLOCK_MET: SlaClockMet,
    EventType.SLA_CLOCK_CANCELLED: SlaClockCancelled,
    EventType.SLA_CLOCK_ESCALATED: SlaClockEscalated,
    EventType.SLA_ALERT_RESOLVED: SlaAlertResolved,
    EventType.SLA_REASSIGN_REQUESTED: SlaReassignRequested,
    EventType.LEAD_ROUTING_QUEUED: LeadRoutingQueued,
    EventType.FIRST_RESPONSE_RECORDED: FirstResponseRecorded,
}
