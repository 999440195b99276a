"""outbox: the relay deletes a row once the broker has it (no sent_at)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

from baton_kit.migrations import outbox_deletes_sent_rows, outbox_keeps_sent_rows

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    outbox_deletes_sent_rows(op)


def downgrade() -> None:
    outbox_keeps_sent_rows(op)
