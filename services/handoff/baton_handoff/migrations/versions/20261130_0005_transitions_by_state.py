"""lifecycle_transitions: index (to_state, at) for the acceptance report's period reads

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
    op.create_index("ix_lifecycle_transitions_to_state_at", "lifecycle_transitions", ["to_state", "at"])


def downgrade() -> None:
    op.drop_index("ix_lifecycle_transitions_to_state_at", table_name="lifecycle_transitions")
