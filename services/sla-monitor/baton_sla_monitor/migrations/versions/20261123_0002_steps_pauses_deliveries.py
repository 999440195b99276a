"""steps, pauses, calendars on clocks; fired-step rows; alert deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from baton_kit.types import AwareDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_CLOCK_COLUMNS = (
    sa.Column("team_id", sa.String(200), nullable=True),
    sa.Column("manager_id", sa.String(200), nullable=True),
    sa.Column("segment", sa.String(100), nullable=True),
    sa.Column("intent", sa.String(30), nullable=True),
    sa.Column("source", sa.String(100), nullable=True),
    sa.Column("target_seconds", sa.Integer(), nullable=False, server_default="0"),
    sa.Column("calendar", sa.JSON(), nullable=True),
    sa.Column("plan", sa.JSON(), nullable=True),
    sa.Column("consumed_seconds", sa.Float(), nullable=False, server_default="0"),
    sa.Column("run_started_at", AwareDateTime(), nullable=True),
    sa.Column("paused_at", AwareDateTime(), nullable=True),
    sa.Column("paused_seconds", sa.Float(), nullable=False, server_default="0"),
    sa.Column("fired", sa.JSON(), nullable=True),
    sa.Column("next_step", sa.String(40), nullable=True),
    sa.Column("next_due_at", AwareDateTime(), nullable=True),
)


def upgrade() -> None:
    for column in NEW_CLOCK_COLUMNS:
        op.add_column("sla_clocks", column)
    # Foundation clocks: wall time, breach only. Running ones get their breach as the next step.
    clocks = sa.table(
        "sla_clocks",
        sa.column("clock_id", sa.String()),
        sa.column("state", sa.String()),
        sa.column("started_at", AwareDateTime()),
        sa.column("due_at", AwareDateTime()),
        sa.column("breached_at", AwareDateTime()),
        sa.column("target_seconds", sa.Integer()),
        sa.column("run_started_at", AwareDateTime()),
        sa.column("fired", sa.JSON()),
        sa.column("next_step", sa.String()),
        sa.column("next_due_at", AwareDateTime()),
    )
    bind = op.get_bind()
    for row in bind.execute(sa.select(clocks)).all():
        active = row.state in ("running", "breached")
        values = {
            "target_seconds": max(1, round((row.due_at - row.started_at).total_seconds())),
            "fired": ["breach"] if row.breached_at is not None else [],
            "run_started_at": row.started_at if active else None,
            "next_step": "breach" if row.state == "running" else None,
            "next_due_at": row.due_at if row.state == "running" else None,
        }
        bind.execute(sa.update(clocks).where(clocks.c.clock_id == row.clock_id).values(**values))
    op.create_index("ix_sla_clocks_next_due_at", "sla_clocks", ["next_due_at"])
    op.create_table(
        "sla_clock_steps",
        sa.Column("clock_id", sa.String(450), primary_key=True),
        sa.Column("step", sa.String(40), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("due_at", AwareDateTime(), nullable=False),
        sa.Column("fired_at", AwareDateTime(), nullable=False),
    )
    op.create_table(
        "sla_alert_deliveries",
        sa.Column("delivery_id", sa.String(600), primary_key=True),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("action", sa.String(20), nullable=False),
        sa.Column("alert", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", AwareDateTime(), nullable=False),
        sa.Column("next_attempt_at", AwareDateTime(), nullable=False),
        sa.Column("sent_at", AwareDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_sla_alert_deliveries_state_next_attempt_at", "sla_alert_deliveries", ["state", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_table("sla_alert_deliveries")
    op.drop_table("sla_clock_steps")
    op.drop_index("ix_sla_clocks_next_due_at", "sla_clocks")
    for column in reversed(NEW_CLOCK_COLUMNS):
        op.drop_column("sla_clocks", column.name)
