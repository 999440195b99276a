"""leads: the account index also holds the engagement score, so account sums read the index alone

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_leads_account_key", table_name="leads")
    op.create_index("ix_leads_account_key_engagement_score", "leads", ["account_key", "engagement_score"])


def downgrade() -> None:
    op.drop_index("ix_leads_account_key_engagement_score", table_name="leads")
    op.create_index("ix_leads_account_key", "leads", ["account_key"])
