"""leads.account_key: the account scoring puts the lead in, indexed, so that when an account's buying
committee forms, its other leads are found and qualified too (filled from each lead's kept score)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("leads", sa.Column("account_key", sa.String(255), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE leads SET account_key = scoring -> 'account' ->> 'account_key' WHERE scoring IS NOT NULL")
    else:
        op.execute(
            "UPDATE leads SET account_key = json_extract(scoring, '$.account.account_key') WHERE scoring IS NOT NULL"
        )
    op.create_index("ix_leads_account_key", "leads", ["account_key"])


def downgrade() -> None:
    op.drop_index("ix_leads_account_key", table_name="leads")
    op.drop_column("leads", "account_key")
