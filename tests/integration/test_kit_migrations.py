"""The kit's frozen migration helper creates the tables the kit's code reads and writes.

Services create the outbox and inbox with `create_kit_tables` and the later kit helpers (Alembic:
`outbox_deletes_sent_rows`) while the kit's code uses
`outbox_table`/`inbox_table` (SQLAlchemy metadata): these tests fail when the two drift apart.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from support.kit import T0

from baton_kit.db import create_engine, new_metadata
from baton_kit.inbox import inbox_table
from baton_kit.migrations import create_kit_tables, outbox_deletes_sent_rows
from baton_kit.outbox import outbox_table


def _kit_metadata() -> sa.MetaData:
    metadata = new_metadata()
    outbox_table(metadata)
    inbox_table(metadata)
    return metadata


def _not_a_unique_constraint(_object: Any, _name: str | None, type_: str, _reflected: bool, _compare_to: Any) -> bool:
    # `create_kit_tables` leaves the outbox's unique constraint unnamed (PostgreSQL calls it
    # outbox_event_id_key) where the metadata's naming convention says uq_outbox_event_id. Only
    # the name differs; that uniqueness holds is checked below by behaviour.
    return type_ != "unique_constraint"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    async with engine.begin() as connection:
        await connection.run_sync(lambda c: create_kit_tables(Operations(MigrationContext.configure(c))))
        await connection.run_sync(lambda c: outbox_deletes_sent_rows(Operations(MigrationContext.configure(c))))
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_create_kit_tables_makes_the_columns_types_and_indexes_the_kit_code_expects(engine: AsyncEngine) -> None:
    def compare(connection: Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "include_object": _not_a_unique_constraint}
        )
        return list(compare_metadata(context, _kit_metadata()))

    async with engine.connect() as connection:
        differences = await connection.run_sync(compare)

    assert differences == []


async def test_migrated_outbox_refuses_a_second_row_for_the_same_event_id(engine: AsyncEngine) -> None:
    outbox = _kit_metadata().tables["outbox"]
    row = {"event_id": "e-1", "topic": "t", "key": "k", "payload": b"{}", "created_at": T0}
    async with engine.begin() as connection:
        await connection.execute(sa.insert(outbox).values(row))
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(sa.insert(outbox).values(row))


async def test_migrated_inbox_refuses_a_second_claim_of_the_same_event_id(engine: AsyncEngine) -> None:
    inbox = _kit_metadata().tables["inbox"]
    row = {"event_id": "e-1", "topic": "t", "applied_at": T0}
    async with engine.begin() as connection:
        await connection.execute(sa.insert(inbox).values(row))
    with pytest.raises(sa.exc.IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(sa.insert(inbox).values(row))
