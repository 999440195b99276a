"""ingestion sources, secrets, dedupe and rate limits (issue 4, webhooks)

Intentionally empty: every source dedupes in `webhook_receipts` (0001; unique on source +
external_id, where external_id is HubSpot `eventId`, Segment `messageId`, Standard Webhooks
`webhook-id` or CloudEvents `source id`); signing secrets are settings (`WEBHOOK_SECRETS`), source
mappings a YAML file, and rate limits in memory per process. Kept so the chain stays 0001 → 0002 → 0003.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
