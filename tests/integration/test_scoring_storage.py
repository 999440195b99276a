"""Scoring's PostgreSQL storage settings, as a DBA would check them after the migrations: an outbox row
the size of a `lead.scored` stays inline and uncompressed (it lives only until the relay publishes it);
a lead's JSON compresses with lz4."""

from __future__ import annotations

import orjson
import pytest
import sqlalchemy as sa
from support.databases import MakeDatabaseUrl

from baton_kit.db import create_engine
from baton_kit.migrations import upgrade_to_head
from baton_scoring.app import MIGRATIONS

pytestmark = pytest.mark.postgres


async def test_outbox_rows_stay_uncompressed_and_lead_json_uses_lz4(make_database_url: MakeDatabaseUrl) -> None:
    url = make_database_url("postgresql")
    await upgrade_to_head(database_url=url, script_location=MIGRATIONS, version_table="alembic_version_scoring")
    engine = create_engine(url)
    # ~3 kB of JSON, as a lead.scored with its explanation: past the ~2 kB at which PostgreSQL compresses
    payload = orjson.dumps({"contributions": [{"rule": f"engagement:rule_{n}", "points": n} for n in range(80)]})
    try:
        async with engine.begin() as connection:
            await connection.execute(
                sa.text(
                    "INSERT INTO outbox (event_id, topic, key, payload, created_at) "
                    "VALUES ('e-1', 'baton.lead.scored', 'lead-1', :payload, now())"
                ),
                {"payload": payload},
            )
            compression = await connection.scalar(sa.text("SELECT pg_column_compression(payload) FROM outbox"))
            options = await connection.scalar(sa.text("SELECT reloptions FROM pg_class WHERE relname = 'outbox'"))
            lead_columns = dict(
                (
                    await connection.execute(
                        sa.text(
                            "SELECT attname, attcompression::text FROM pg_attribute "
                            "WHERE attrelid = 'leads'::regclass AND attname IN ('profile', 'contributions')"
                        )
                    )
                ).all()
            )
    finally:
        await engine.dispose()
    assert len(payload) > 2500
    assert compression is None  # stored as is
    assert "toast_tuple_target=8160" in options
    assert lead_columns == {"profile": "l", "contributions": "l"}  # l: lz4
