"""The SLA monitor's tables. No other service reads them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Enum, Float, Index, Integer, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from baton_contracts.events import SlaClockKind
from baton_kit.db import new_metadata
from baton_kit.inbox import inbox_table
from baton_kit.outbox import outbox_table
from baton_kit.types import AwareDateTime
from baton_sla_monitor.rules import ClockState


class Base(DeclarativeBase):
    metadata = new_metadata()


outbox_table(Base.metadata)
inbox_table(Base.metadata)


def _str_enum(cls: type[StrEnum]) -> Enum:
    """Stored as the enum's value in a VARCHAR(30), without a CHECK: a new state needs no migration."""
    return Enum(cls, native_enum=False, length=30, values_callable=lambda members: [m.value for m in members])


class LeadMilestones(Base):
    """When a lead first reached each milestone; a row exists once any lifecycle change was seen."""

    __tablename__ = "lead_milestones"

    lead_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    mql_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    assigned_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    sal_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    rejected_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


ACTIVE_CLOCK = text("state IN ('running', 'breached')")


class SlaClockRecord(Base):
    """One SLA clock. At most one active (running or breached) clock per lead and kind.

    `next_due_at` is the due time of its earliest unfired step (NULL: paused or stopped): the
    timer claims rows by it.
    """

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_state_due_at", "state", "due_at"),
        Index("ix_sla_clocks_next_due_at", "next_due_at"),
        Index(
            "uq_sla_clocks_active_lead_id_kind",
            "lead_id",
            "kind",
            unique=True,
            postgresql_where=ACTIVE_CLOCK,
            sqlite_where=ACTIVE_CLOCK,
        ),
    )

    clock_id: Mapped[str] = mapped_column(String(450), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200), index=True)
    kind: Mapped[SlaClockKind] = mapped_column(_str_enum(SlaClockKind))
    policy: Mapped[str] = mapped_column(String(200))
    rep_id: Mapped[str | None] = mapped_column(String(200))
    definitions_version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(AwareDateTime())
    due_at: Mapped[datetime] = mapped_column(AwareDateTime())
    state: Mapped[ClockState] = mapped_column(_str_enum(ClockState))
    breached_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    met_late: Mapped[bool | None] = mapped_column()
    team_id: Mapped[str | None] = mapped_column(String(200))
    manager_id: Mapped[str | None] = mapped_column(String(200))
    segment: Mapped[str | None] = mapped_column(String(100))
    intent: Mapped[str | None] = mapped_column(String(30))
    source: Mapped[str | None] = mapped_column(String(100))
    target_seconds: Mapped[int] = mapped_column(Integer, server_default="0")
    calendar: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    plan: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    consumed_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    run_started_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    paused_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    paused_seconds: Mapped[float] = mapped_column(Float, server_default="0")
    fired: Mapped[list[str] | None] = mapped_column(JSON)
    next_step: Mapped[str | None] = mapped_column(String(40))
    next_due_at: Mapped[datetime | None] = mapped_column(AwareDateTime())


class SlaStepRecord(Base):
    """One row per fired (clock, step): the primary key is what makes a step fire once."""

    __tablename__ = "sla_clock_steps"

    clock_id: Mapped[str] = mapped_column(String(450), primary_key=True)
    step: Mapped[str] = mapped_column(String(40), primary_key=True)
    lead_id: Mapped[str] = mapped_column(String(200))
    due_at: Mapped[datetime] = mapped_column(AwareDateTime())
    fired_at: Mapped[datetime] = mapped_column(AwareDateTime())


class DeliveryState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    DEAD = "dead"
    """Gave up after the last try (or a permanent refusal): the dead-letter record."""
    SKIPPED = "skipped"
    """The channel is not configured in this deployment's settings."""


class AlertDelivery(Base):
    """One alert to send to one on-call channel, written with the step it comes from and sent by the
    delivery worker after commit. `delivery_id` is `<channel>/<clock_id>/<step>/<action>`."""

    __tablename__ = "sla_alert_deliveries"
    __table_args__ = (Index("ix_sla_alert_deliveries_state_next_attempt_at", "state", "next_attempt_at"),)

    delivery_id: Mapped[str] = mapped_column(String(600), primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))
    action: Mapped[str] = mapped_column(String(20))
    alert: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[DeliveryState] = mapped_column(_str_enum(DeliveryState))
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(AwareDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(AwareDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(AwareDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
