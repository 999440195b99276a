"""The kit's units of work against both databases."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from support.kit import KitDatabase, kit_database

from baton_kit.db import read_transaction, transaction


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[KitDatabase]:
    async with kit_database(database_url) as database:
        yield database


async def test_a_read_transaction_sees_one_snapshot_while_a_writer_commits(db: KitDatabase) -> None:
    counters = db.schema.counters
    count = sa.select(counters.c.count).where(counters.c.key == "lead-1")
    async with transaction(db.sessions) as session:
        await session.execute(sa.insert(counters).values(key="lead-1", count=1))

    async with read_transaction(db.sessions) as reader:
        first = await reader.scalar(count)
        async with transaction(db.sessions) as writer:  # commits between the reader's two reads
            await writer.execute(sa.update(counters).where(counters.c.key == "lead-1").values(count=2))
        second = await reader.scalar(count)
    async with read_transaction(db.sessions) as later:
        after = await later.scalar(count)

    assert (first, second, after) == (1, 1, 2)  # a row and what is read with it agree; the next read sees the commit
