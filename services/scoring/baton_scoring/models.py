"""Scoring's tables. No other service reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Index, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from baton_kit.db import new_metadata
from baton_kit.inbox import inbox_table
from baton_kit.outbox import outbox_table
from baton_kit.types import AwareDateTime


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox_table(Base.metadata)
inbox_table(Base.metadata)


class LeadScore(Base):
    """A lead's current score and the counts it is computed from."""

    __tablename__ = "lead_scores"

    lead_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    activity_counts: Mapped[dict[str, int]] = mapped_column(JSON, nullable=False)
    contributions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False)
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    last_event_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class EngagementEvent(Base):
    """Every engagement event applied, as received: the window `simulate` replays."""

    __tablename__ = "engagement_events"
    __table_args__ = (Index("ix_engagement_events_lead_id_occurred_at", "lead_id", "occurred_at"),)

    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), nullable=False)
    activity: Mapped[str] = mapped_column(String(100), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
