"""initial: webhook receipts, leads, lifecycle transitions, routing cursors, outbox, inbox

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

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    create_kit_tables(op)
    op.create_table(
        "webhook_receipts",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source", "external_id", name="uq_webhook_receipts_source_external_id"),
    )
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("score_explanation", sa.JSON(), nullable=False),
        sa.Column("rep_id", sa.String(100), nullable=True),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_leads_state_updated_at", "leads", ["state", "updated_at"])
    op.create_index("ix_leads_rep_id", "leads", ["rep_id"])
    op.create_table(
        "lifecycle_transitions",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(200), sa.ForeignKey("leads.lead_id"), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("cause_event_id", sa.String(200), nullable=True),
        sa.Column("rep_id", sa.String(100), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
    )
    op.create_index("ix_lifecycle_transitions_lead_id", "lifecycle_transitions", ["lead_id"])
    op.create_table(
        "routing_cursors",
        sa.Column("rotation", sa.String(100), primary_key=True),
        sa.Column("last_rep_id", sa.String(100), nullable=True),
        sa.Column("assignments", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    for table in ("routing_cursors", "lifecycle_transitions", "leads", "webhook_receipts", "inbox", "outbox"):
        op.drop_table(table)
