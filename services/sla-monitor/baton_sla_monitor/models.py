"""The SLA monitor's tables. No other service reads them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Enum, Index, String, text
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
    """One SLA clock. At most one active (running or breached) clock per lead and kind."""

    __tablename__ = "sla_clocks"
    __table_args__ = (
        Index("ix_sla_clocks_state_due_at", "state", "due_at"),
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
