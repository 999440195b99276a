"""PostgreSQL storage: outbox rows stay inline uncompressed; leads' JSON compresses with lz4

A `lead.scored` payload and a lead's row are 2-3 kB, just over the size (~2 kB) at which PostgreSQL
compresses a row's long values (pglz, by default). The outbox holds a row only until the relay has
published it, so compressing it is pure cost: its rows stay inline up to ~8 kB (`toast_tuple_target`).
Leads are kept, so their JSON still compresses, with lz4 (several times cheaper than pglz). Measured
with `bench/scoring_throughput.py --full`: the server's CPU per event fell from ~57 µs to 45-52 µs.
SQLite does not compress; nothing changes there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A server built without lz4 keeps pglz (the error is `feature_not_supported`) rather than fail to migrate.
LZ4_LEAD_JSON = """
DO $$ BEGIN
    ALTER TABLE leads ALTER COLUMN contributions SET COMPRESSION lz4;
    ALTER TABLE leads ALTER COLUMN profile SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN NULL;
END $$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox SET (toast_tuple_target = 8160)")
        op.execute(LZ4_LEAD_JSON)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox RESET (toast_tuple_target)")
        op.execute("ALTER TABLE leads ALTER COLUMN contributions SET COMPRESSION default")
        op.execute("ALTER TABLE leads ALTER COLUMN profile SET COMPRESSION default")
