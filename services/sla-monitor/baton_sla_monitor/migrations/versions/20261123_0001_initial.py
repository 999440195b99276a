"""initial: lead milestones, SLA clocks, outbox, inbox

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from baton_kit.migrations import create_kit_tables

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ACTIVE_CLOCK = sa.text("state IN ('running', 'breached')")


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "lead_milestones",
        sa.Column("lead_id", sa.String(200), primary_key=True),
        sa.Column("mql_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sal_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_response_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "sla_clocks",
        sa.Column("clock_id", sa.String(450), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("rep_id", sa.String(200), nullable=True),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(30), nullable=False),
        sa.Column("breached_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("met_late", sa.Boolean(), nullable=True),
    )
    op.create_index("ix_sla_clocks_lead_id", "sla_clocks", ["lead_id"])
    op.create_index("ix_sla_clocks_state_due_at", "sla_clocks", ["state", "due_at"])
    op.create_index(
        "uq_sla_clocks_active_lead_id_kind",
        "sla_clocks",
        ["lead_id", "kind"],
        unique=True,
        postgresql_where=ACTIVE_CLOCK,
        sqlite_where=ACTIVE_CLOCK,
    )


def downgrade() -> None:
    op.drop_table("sla_clocks")
    op.drop_table("lead_milestones")
    op.drop_table("inbox")
    op.drop_table("outbox")
