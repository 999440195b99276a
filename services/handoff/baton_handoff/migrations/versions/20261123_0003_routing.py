"""qualification, routing roster, accounts, CRM contract, API keys (issue 4, leads)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)

LEAD_COLUMNS = [
    sa.Column("fit_grade", sa.String(1), nullable=True),
    sa.Column("engagement_band", sa.Integer(), nullable=True),
    sa.Column("grade", sa.String(4), nullable=True),
    sa.Column("profile", sa.JSON(), nullable=True),
    sa.Column("scoring", sa.JSON(), nullable=True),
    sa.Column("qualification", sa.JSON(), nullable=True),
    sa.Column("intent", sa.String(20), nullable=True),
    sa.Column("segment", sa.String(50), nullable=True),
    sa.Column("team_id", sa.String(100), nullable=True),
    sa.Column("account_id", sa.String(100), nullable=True),
    sa.Column("requalify_after", TS, nullable=True),
    sa.Column("queued_at", TS, nullable=True),
    sa.Column("first_response", sa.JSON(), nullable=True),
    sa.Column("first_response_at", TS, nullable=True),
]


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        for column in LEAD_COLUMNS:
            batch.add_column(column)
    op.create_index("ix_leads_team_id", "leads", ["team_id"])
    op.create_index("ix_leads_queued_at", "leads", ["queued_at"])
    op.create_table(
        "teams",
        sa.Column("team_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("virtual_time", sa.Float(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "reps",
        sa.Column("rep_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("team_id", sa.String(100), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("country", sa.String(2), nullable=True),
        sa.Column("calendar", sa.String(100), nullable=True),
        sa.Column("manager_id", sa.String(100), nullable=True),
        sa.Column("daily_cap", sa.Integer(), nullable=True),
        sa.Column("weekly_cap", sa.Integer(), nullable=True),
        sa.Column("working_hours", sa.JSON(), nullable=True),
        sa.Column("out_of_office", sa.JSON(), nullable=False),
        sa.Column("pass_value", sa.Float(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_reps_team_id", "reps", ["team_id"])
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(300), nullable=False),
        sa.Column("domain", sa.String(253), nullable=True),
        sa.Column("owner_rep_id", sa.String(100), nullable=True),
        sa.Column("employees", sa.Integer(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_accounts_domain", "accounts", ["domain"])
    op.create_table(
        "assignments",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("rep_id", sa.String(100), nullable=False),
        sa.Column("team_id", sa.String(100), nullable=True),
        sa.Column("at", TS, nullable=False),
    )
    op.create_index("ix_assignments_lead_id", "assignments", ["lead_id"])
    op.create_index("ix_assignments_rep_id_at", "assignments", ["rep_id", "at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(100), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("body", sa.JSON(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("rep_id", sa.String(100), nullable=True),
        sa.Column("team_id", sa.String(100), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
    )
    op.create_table(
        "crm_deliveries",
        sa.Column("id", BIGINT_PK, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(200), nullable=False, unique=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(100), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("last_error", sa.String(1000), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("failed_at", TS, nullable=True),
    )
    op.create_index("ix_crm_deliveries_lead_id", "crm_deliveries", ["lead_id"])
    op.create_index("ix_crm_deliveries_due", "crm_deliveries", ["delivered_at", "next_attempt_at"])
    op.create_table(
        "sla_clocks",
        sa.Column("clock_id", sa.String(200), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("policy", sa.String(100), nullable=False),
        sa.Column("rep_id", sa.String(100), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
    )
    op.create_index("ix_sla_clocks_lead_id", "sla_clocks", ["lead_id"])


def downgrade() -> None:
    for table in (
        "sla_clocks",
        "crm_deliveries",
        "api_keys",
        "idempotency_keys",
        "assignments",
        "accounts",
        "reps",
        "teams",
    ):
        op.drop_table(table)
    op.drop_index("ix_leads_queued_at", "leads")
    op.drop_index("ix_leads_team_id", "leads")
    with op.batch_alter_table("leads") as batch:
        for column in reversed(LEAD_COLUMNS):
            batch.drop_column(column.name)
