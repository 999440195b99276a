"""lead_identities: the lead each email address belongs to (the first seen with it), so that an event
naming only an email joins the lead a sender's own id started

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "lead_identities",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("lead_id", sa.String(200), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("lead_identities")
