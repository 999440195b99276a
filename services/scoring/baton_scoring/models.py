"""Scoring's tables. No other service reads them.

Stored events are the source of truth: a lead's score is computed from its stored engagement
events and profile updates (held in memory between events, checked against `leads.state_version`),
so a late or repeated event gives the same score as an in-order one.
`leads` holds the latest result (and when to look at it again); `score_history` every emitted score.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from baton_kit.db import new_metadata
from baton_kit.inbox import inbox_table
from baton_kit.outbox import outbox_table
from baton_kit.types import AwareDateTime


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox_table(Base.metadata)
inbox_table(Base.metadata)


class Lead(Base):
    """A lead's latest scorecard, its merged profile and account, and when decay may change its band."""

    __tablename__ = "leads"
    __table_args__ = (
        # Covers the account sums (engaged stakeholders, summed engagement): read from the index alone.
        Index("ix_leads_account_key_engagement_score", "account_key", "engagement_score"),
        Index("ix_leads_review_at", "review_at"),
    )

    lead_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    email: Mapped[str | None] = mapped_column(String(320))
    account_key: Mapped[str | None] = mapped_column(String(255))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    fit_score: Mapped[float] = mapped_column(Float, nullable=False)
    engagement_score: Mapped[float] = mapped_column(Float, nullable=False)
    fit_grade: Mapped[str] = mapped_column(String(1), nullable=False)
    engagement_band: Mapped[int] = mapped_column(Integer, nullable=False)
    grade: Mapped[str] = mapped_column(String(4), nullable=False)
    demand_state: Mapped[str] = mapped_column(String(30), nullable=False)
    high_intent: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    disqualifiers: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    contributions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    account: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    scored_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    last_event_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    review_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    # How many events and profile updates the lead has stored: an instance holding the lead in memory
    # checks it against its own count before trusting that copy (see `service.LeadMemory`).
    state_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


class EngagementEvent(Base):
    """Every engagement event received (unknown activities too), as received: what scores are computed
    from and the window `simulate` replays. Unique on the event id and on the sender's (source, external_id)."""

    __tablename__ = "engagement_events"
    __table_args__ = (
        Index("ix_engagement_events_lead_id_occurred_at", "lead_id", "occurred_at"),
        Index("uq_engagement_events_source_external_id", "source", "external_id", unique=True),
    )

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    activity: Mapped[str] = mapped_column(String(100), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    external_id: Mapped[str | None] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


class ProfileUpdate(Base):
    """Every profile update received; merged in (occurred_at, event_id) order, so late ones fall in place."""

    __tablename__ = "profile_updates"
    __table_args__ = (Index("ix_profile_updates_lead_id", "lead_id"),)

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)


class ScoreHistory(Base):
    """One row per `lead.scored` emitted: the lead's score history."""

    __tablename__ = "score_history"
    __table_args__ = (Index("ix_score_history_lead_id_id", "lead_id", "id"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    event_id: Mapped[str] = mapped_column(String(200), nullable=False)
    reason: Mapped[str] = mapped_column(String(20), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    fit_score: Mapped[float] = mapped_column(Float, nullable=False)
    engagement_score: Mapped[float] = mapped_column(Float, nullable=False)
    grade: Mapped[str] = mapped_column(String(4), nullable=False)
    demand_state: Mapped[str] = mapped_column(String(30), nullable=False)
    high_intent: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    cause_event_id: Mapped[str | None] = mapped_column(String(200))
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    scored_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
