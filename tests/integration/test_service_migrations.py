"""Each service's Alembic migrations build the schema its models describe, on both databases.

A model changed without a migration (or a migration that builds something else) fails here, not
at the first query in production: after `upgrade head`, Alembic's autogenerate finds nothing to do.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from baton_handoff.app import MIGRATIONS as HANDOFF_MIGRATIONS
from baton_kit.db import create_engine
from baton_kit.migrations import alembic_config, upgrade_to_head

SERVICES = {"handoff": "baton_handoff", "scoring": "baton_scoring", "sla-monitor": "baton_sla_monitor"}


def _unnamed_constraints_aside(_object: Any, name: str | None, type_: str, reflected: bool, _compare: Any) -> bool:
    # Alembic's version table is not the service's; the kit creates the outbox's unique constraint
    # unnamed (see test_kit_migrations, which checks the kit tables with that in mind).
    if type_ == "table" and name is not None and name.startswith("alembic_version"):
        return False
    return type_ != "unique_constraint"


@pytest.mark.parametrize("service", sorted(SERVICES))
async def test_migrations_at_head_build_the_schema_the_models_describe(database_url: str, service: str) -> None:
    package = SERVICES[service]
    app = importlib.import_module(f"{package}.app")
    metadata = importlib.import_module(f"{package}.models").Base.metadata
    await upgrade_to_head(
        database_url=database_url,
        script_location=app.MIGRATIONS,
        version_table=f"alembic_version_{service.replace('-', '_')}",
    )

    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _unnamed_constraints_aside}
        )
        return list(compare_metadata(context, metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            differences = await connection.run_sync(compare)
    finally:
        await engine.dispose()
    assert differences == []


async def test_crm_deliveries_queued_before_their_bodies_moved_to_a_table_of_their_own_keep_them(
    database_url: str,
) -> None:
    version_table = "alembic_version_handoff"
    config = alembic_config(database_url=database_url, script_location=HANDOFF_MIGRATIONS, version_table=version_table)
    body = {"type": "lead.assigned", "lead": {"lead_id": "lead-1"}, "note": "é"}
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:

            def before_the_move(sync_connection: Connection) -> None:
                config.attributes["connection"] = sync_connection
                command.upgrade(config, "0006")

            await connection.run_sync(before_the_move)
            await connection.execute(
                sa.text(
                    "INSERT INTO crm_deliveries (message_id, lead_id, event_type, payload, attempts,"
                    " next_attempt_at, created_at) VALUES ('msg_1', 'lead-1', 'lead.assigned', :payload, 0,"
                    " '2026-11-30 09:00:00+00:00', '2026-11-30 09:00:00+00:00')"
                ),
                {"payload": json.dumps(body)},
            )
        await upgrade_to_head(
            database_url=database_url, script_location=HANDOFF_MIGRATIONS, version_table=version_table
        )
        async with engine.connect() as connection:
            moved = (await connection.execute(sa.text("SELECT message_id, payload FROM crm_delivery_bodies"))).all()
            columns = {
                c["name"] for c in await connection.run_sync(lambda c: sa.inspect(c).get_columns("crm_deliveries"))
            }
    finally:
        await engine.dispose()
    assert [(m, json.loads(p) if isinstance(p, str) else p) for m, p in moved] == [("msg_1", body)]
    assert "payload" not in columns
