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


async def test_handoff_0007_fills_each_leads_account_key_from_its_kept_score(database_url: str) -> None:
    """Leads scored before the column existed are found by account too once the migration has run."""
    config = alembic_config(
        database_url=database_url, script_location=HANDOFF_MIGRATIONS, version_table="alembic_version_handoff"
    )
    engine = create_engine(database_url)

    def upgrade(connection: Connection, revision: str) -> None:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    insert = sa.text(
        "INSERT INTO leads (lead_id, state, score, score_explanation, definitions_version, created_at, updated_at,"
        " scoring) VALUES (:lead_id, 'known', 10, '[]', 'v', '2026-11-30 10:00:00', '2026-11-30 10:00:00', :scoring)"
    )
    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, "0006")
            for lead_id, account in [("with", {"account_key": "acme.example"}), ("without", None)]:
                scoring = json.dumps({"score": 10, "account": account})
                await connection.execute(insert, {"lead_id": lead_id, "scoring": scoring})
            await connection.execute(insert, {"lead_id": "unscored", "scoring": None})
            await connection.run_sync(upgrade, "head")
            keys = dict((await connection.execute(sa.text("SELECT lead_id, account_key FROM leads"))).all())
    finally:
        await engine.dispose()
    assert keys == {"with": "acme.example", "without": None, "unscored": None}
