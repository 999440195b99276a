"""scorecards: leads (replaces lead_scores), profile updates, score history; engagement events keyed by sender id

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_table("lead_scores")
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(200), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("account_key", sa.String(255)),
        sa.Column("profile", sa.JSON(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fit_score", sa.Float(), nullable=False),
        sa.Column("engagement_score", sa.Float(), nullable=False),
        sa.Column("fit_grade", sa.String(1), nullable=False),
        sa.Column("engagement_band", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
        sa.Column("demand_state", sa.String(30), nullable=False),
        sa.Column("high_intent", sa.JSON(), nullable=False),
        sa.Column("disqualifiers", sa.JSON(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("account", sa.JSON()),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True)),
        sa.Column("review_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_leads_account_key", "leads", ["account_key"])
    op.create_index("ix_leads_review_at", "leads", ["review_at"])
    with op.batch_alter_table("engagement_events") as batch:
        batch.add_column(sa.Column("external_id", sa.String(200)))
        batch.add_column(sa.Column("email", sa.String(320)))
    op.create_index(
        "uq_engagement_events_source_external_id", "engagement_events", ["source", "external_id"], unique=True
    )
    op.create_table(
        "profile_updates",
        sa.Column("event_id", sa.String(200), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
    )
    op.create_index("ix_profile_updates_lead_id", "profile_updates", ["lead_id"])
    op.create_table(
        "score_history",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("reason", sa.String(20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fit_score", sa.Float(), nullable=False),
        sa.Column("engagement_score", sa.Float(), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
        sa.Column("demand_state", sa.String(30), nullable=False),
        sa.Column("high_intent", sa.JSON(), nullable=False),
        sa.Column("cause_event_id", sa.String(200)),
        sa.Column("definitions_version", sa.String(40), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_score_history_lead_id_id", "score_history", ["lead_id", "id"])


def downgrade() -> None:
    op.drop_table("score_history")
    op.drop_table("profile_updates")
    op.drop_index("uq_engagement_events_source_external_id", "engagement_events")
    with op.batch_alter_table("engagement_events") as batch:
        batch.drop_column("email")
        batch.drop_column("external_id")
    op.drop_table("leads")
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
