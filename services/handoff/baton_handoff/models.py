"""Handoff's tables. No other service reads them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
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
    __table_args__ = (Index("ix_leads_state_updated_at", "state", "updated_at"),)

    lead_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    state: Mapped[LeadState] = mapped_column(String(20), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    score_explanation: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    rep_id: Mapped[str | None] = mapped_column(String(100), nullable=True, index=True)
    definitions_version: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(AwareDateTime(), nullable=False)


class LifecycleTransition(Base):
    """An immutable row per lifecycle transition: from, to, when, who, why, under which definitions."""

    __tablename__ = "lifecycle_transitions"

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
