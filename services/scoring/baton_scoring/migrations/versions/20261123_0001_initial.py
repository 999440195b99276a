"""initial: lead scores, engagement events, outbox, inbox

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


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "lead_scores",
        sa.Column("lead_id", sa.String(200), primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("activity_counts", sa.JSON(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "engagement_events",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("activity", sa.String(100), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
    )
    op.create_index("ix_engagement_events_lead_id_occurred_at", "engagement_events", ["lead_id", "occurred_at"])


def downgrade() -> None:
    op.drop_table("engagement_events")
    op.drop_table("lead_scores")
    op.drop_table("inbox")
    op.drop_table("outbox")
