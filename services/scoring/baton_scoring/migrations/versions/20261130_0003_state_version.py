"""leads.state_version: how many events and profile updates a lead has stored

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.add_column(sa.Column("state_version", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE leads SET state_version = "
        "(SELECT COUNT(*) FROM engagement_events e WHERE e.lead_id = leads.lead_id) + "
        "(SELECT COUNT(*) FROM profile_updates p WHERE p.lead_id = leads.lead_id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("leads") as batch:
        batch.drop_column("state_version")
