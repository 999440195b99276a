"""crm_delivery_bodies: a CRM webhook delivery's body apart from the row each try updates

On SQLite an UPDATE rewrites the whole row, so leasing and recording a delivery wrote its few-kB
body twice a try (bench/speed_to_lead.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_delivery_bodies",
        sa.Column(
            "message_id",
            sa.String(200),
            sa.ForeignKey("crm_deliveries.message_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("payload", sa.JSON(), nullable=False),
    )
    op.execute("INSERT INTO crm_delivery_bodies (message_id, payload) SELECT message_id, payload FROM crm_deliveries")
    # In place (SQLite 3.35+ drops a column itself): rebuilding the table, as batch mode would, drops
    # the old one, and with foreign keys on that deletes every body just copied, by the cascade.
    with op.batch_alter_table("crm_deliveries", recreate="never") as table:
        table.drop_column("payload")


def downgrade() -> None:
    op.add_column("crm_deliveries", sa.Column("payload", sa.JSON(), nullable=True))
    op.execute(
        "UPDATE crm_deliveries SET payload = (SELECT payload FROM crm_delivery_bodies b"
        " WHERE b.message_id = crm_deliveries.message_id)"
    )
    op.drop_table("crm_delivery_bodies")
