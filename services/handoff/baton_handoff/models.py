"""Handoff's tables. No other service reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from baton_contracts.events import LeadState
from baton_kit.db import new_metadata
from baton_kit.inbox import inbox_table
from baton_kit.outbox import outbox_table
from baton_kit.types import AwareDateTime


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox_table(Base.metadata)
inbox_table(Base.metadata)


class LeadIdentity(Base):
    """The lead an email address belongs to: the first lead seen with it (migration 0008). An event
    that names no lead of its own, only an email, joins that lead instead of starting another."""

    __tablename__ = "lead_identities"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    first_seen_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class WebhookReceipt(Base):
    """One engagement event received from a sender, stored before the 202 (idempotent on the sender's id)."""

    __tablename__ = "webhook_receipts"
    __table_args__ = (UniqueConstraint("source", "external_id", name="uq_webhook_receipts_source_external_id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    external_id: Mapped[str] = mapped_column(String(200), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    received_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class Lead(Base):
    """A lead's current lifecycle state. Its history is `LifecycleTransition` rows."""

    __tablename__ = "leads"
    __table_args__ = (
        Index("ix_leads_state_updated_at", "state", "updated_at"),
        Index("ix_leads_account_key", "account_key"),
    )

    lead_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[LeadState] = mapped_column(String(20), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    score_explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    # qualification and routing (migration 0003)
    fit_grade: Mapped[str | None] = mapped_column(String(1), nullable=True)
    engagement_band: Mapped[int | None] = mapped_column(Integer, nullable=True)
    grade: Mapped[str | None] = mapped_column(String(4), nullable=True)
    profile: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    scoring: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    qualification: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    intent: Mapped[str | None] = mapped_column(String(20), nullable=True)
    segment: Mapped[str | None] = mapped_column(String(50), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    account_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    requalify_after: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True, index=True)
    first_response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    first_response_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    # scoring's account of the lead (its email domain), for the buying committee (migration 0007)
    account_key: Mapped[str | None] = mapped_column(String(255), nullable=True)


class LifecycleTransition(Base):
    """An immutable row per lifecycle transition: from, to, when, who, why, under which definitions."""

    __tablename__ = "lifecycle_transitions"
    # The acceptance report reads a period's decisions (to_state sal/rejected, by time).
    __table_args__ = (Index("ix_lifecycle_transitions_to_state_at", "to_state", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    lead_id: Mapped[str] = mapped_column(ForeignKey("leads.lead_id"), nullable=False, index=True)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    from_state: Mapped[LeadState | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[LeadState] = mapped_column(String(20), nullable=False)
    at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(String(1000), nullable=False)
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    cause_event_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)


class RoutingCursor(Base):
    """Where a round-robin rotation stands: the rep who got the last lead (survives restarts)."""

    __tablename__ = "routing_cursors"

    rotation: Mapped[str] = mapped_column(String(100), primary_key=True)
    last_rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    assignments: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)


class Team(Base):
    """A routing team. Its row is the rotation's lock and holds the team's virtual time."""

    __tablename__ = "teams"

    team_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    virtual_time: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class Rep(Base):
    """A rep on the roster: team, weight, capacity, calendar, availability and rotation position."""

    __tablename__ = "reps"

    rep_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    team_id: Mapped[str] = mapped_column(String(100), nullable=False, index=True)
    weight: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, default="UTC")
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    calendar: Mapped[str | None] = mapped_column(String(100), nullable=True)
    manager_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    daily_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    weekly_cap: Mapped[int | None] = mapped_column(Integer, nullable=True)
    working_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    out_of_office: Mapped[list[list[str]]] = mapped_column(JSON, nullable=False, default=list)
    pass_value: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class Account(Base):
    """A company leads are matched to (email domain, then fuzzy name); its owner gets its leads."""

    __tablename__ = "accounts"

    account_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), nullable=False)
    domain: Mapped[str | None] = mapped_column(String(253), nullable=True, index=True)
    owner_rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    employees: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class Assignment(Base):
    """One assignment of a lead to a rep: capacity counting and "skip previous assignees"."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_rep_id_at", "rep_id", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    rep_id: Mapped[str] = mapped_column(String(100), nullable=False)
    team_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class IdempotencyRecord(Base):
    """The stored response of a write made with an `Idempotency-Key` (per API key)."""

    __tablename__ = "idempotency_keys"

    scope: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64), nullable=False)
    status_code: Mapped[int] = mapped_column(Integer, nullable=False)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class ApiKey(Base):
    """An API key, stored as a SHA-256 hash of the secret; scoped and optionally tied to a rep or team."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    team_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)


class DefinitionsVersion(Base):
    """Every definitions file the handoff has run with, as it was loaded. Decisions record only the
    version (the file's hash); this keeps the text, so the rulebook behind any decision can be read."""

    __tablename__ = "definitions_versions"

    version: Mapped[str] = mapped_column(String(100), primary_key=True)
    text: Mapped[str] = mapped_column(Text, nullable=False)
    first_loaded_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    last_loaded_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class CrmDelivery(Base):
    """An outbound CRM webhook to deliver, written with the assignment; a worker sends it after commit."""

    __tablename__ = "crm_deliveries"
    __table_args__ = (Index("ix_crm_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    message_id: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    event_type: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    last_error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)
    failed_at: Mapped[datetime | None] = mapped_column(AwareDateTime(), nullable=True)


class SlaClockView(Base):
    """The SLA monitor's clocks as `sla.events` told us (GET lead shows them); never decided here."""

    __tablename__ = "sla_clocks"

    clock_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(30), nullable=False)
    policy: Mapped[str] = mapped_column(String(100), nullable=False)
    rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    state: Mapped[str] = mapped_column(String(20), nullable=False)
    started_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    due_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    escalation_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
