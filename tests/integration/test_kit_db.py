"""The kit's units of work against both databases."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from support.databases import MakeDatabaseUrl
from support.kit import KitDatabase, kit_database
from support.waits import eventually

from baton_kit.db import SqliteCheckpointer, insert_many, read_transaction, sqlite_file, transaction

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
ADD_COUNT = "ON CONFLICT (key) DO UPDATE SET count = counters.count + excluded.count"  # an upsert suffix


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


async def test_batch_inserts_and_upserts_commit_and_roll_back_with_their_transaction(db: KitDatabase) -> None:
    """`insert_many` (on PostgreSQL a COPY, and for an upsert a COPY into a staging table the connection
    keeps): every row lands once with its transaction, and none of a rolled-back one, even when the COPY
    is the transaction's first statement or one table is upserted twice in a transaction."""
    applications, counters = db.schema.applications, db.schema.counters

    async def add(counts: list[tuple[str, int]], *, fail: bool = False) -> None:
        async with transaction(db.sessions) as session:
            connection = await session.connection()
            await insert_many(connection, "applications", ("event_id", "key"), [(f"e-{k}", k) for k, _ in counts])
            for count in counts:  # one upsert per row: each call must insert its own rows only
                await insert_many(connection, "counters", ("key", "count"), [count], suffix=ADD_COUNT)
            if fail:
                raise RuntimeError("the batch fails after its writes")

    await add([("a", 1), ("b", 2)])
    with pytest.raises(RuntimeError):
        await add([("a", 10), ("c", 10)], fail=True)
    await add([("a", 5)])

    async with read_transaction(db.sessions) as session:
        totals = {key: count for key, count in await session.execute(sa.select(counters.c.key, counters.c.count))}
        applied = await session.scalar(sa.select(sa.func.count()).select_from(applications))
    assert totals == {"a": 6, "b": 2}  # nothing of the failed batch, nothing staged counted twice
    assert applied == 3


async def _write_megabyte(db: KitDatabase, n: int) -> None:
    """One transaction of ~1 MB: 250 outbox rows of 4 kB."""
    rows = [
        {"event_id": f"e-{n}-{i}", "topic": "t", "key": "k", "payload": bytes(4000), "created_at": NOW}
        for i in range(250)
    ]
    async with transaction(db.sessions) as session:
        await session.execute(sa.insert(db.schema.outbox), rows)


def _size(path: Path) -> int:
    return path.stat().st_size


def _fully_checkpointed(shm: Path) -> bool:
    """SQLite's WAL index says every frame in the WAL is in the database file: the checkpoint info's
    `nBackfill` equals the index header's `mxFrame` (https://www.sqlite.org/walformat.html, native byte order)."""
    index = shm.read_bytes()
    max_frame = int.from_bytes(index[16:20], sys.byteorder)  # WalIndexHdr.mxFrame
    backfilled = int.from_bytes(index[96:100], sys.byteorder)  # WalCkptInfo.nBackfill, after two headers
    return backfilled == max_frame


async def test_sqlite_checkpointer_moves_commits_into_the_database_file_and_keeps_the_wal_small(
    make_database_url: MakeDatabaseUrl,
) -> None:
    url = make_database_url("sqlite")
    path = Path(sqlite_file(url) or "")
    wal, shm = path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")
    async with kit_database(url) as db:
        # Without it, a commit's pages stay in the WAL until it reaches `wal_autocheckpoint` (80 MB).
        await _write_megabyte(db, 0)
        assert _size(path) < 500_000 < _size(wal)
        assert not _fully_checkpointed(shm)

        stop = asyncio.Event()
        checkpointer = asyncio.create_task(SqliteCheckpointer(str(path), interval=0.01).run(stop))
        try:
            for n in range(1, 11):
                await _write_megabyte(db, n)
                # the commit is copied in with no writer's help
                await eventually(lambda: _fully_checkpointed(shm), until=bool, interval=0.01)
                assert _size(path) >= n * 1_000_000
        finally:
            stop.set()
            await checkpointer
        async with read_transaction(db.sessions) as session:
            rows = await session.scalar(sa.select(sa.func.count()).select_from(db.schema.outbox))
        # A write that begins after a complete checkpoint starts the WAL over: the file keeps the size
        # of the two transactions written before the first checkpoint, not all eleven (11+ MB).
        wal_size = _size(wal)  # (the last connection to close checkpoints and removes the file)

    assert rows == 11 * 250
    assert wal_size < 3_000_000


async def test_a_writer_waiting_for_another_process_lock_leaves_the_event_loop_free(
    make_database_url: MakeDatabaseUrl,
) -> None:
    """SQLite: a write transaction's statements run in the event loop's thread once it holds the write
    lock, but the wait for that lock (another process writing: here a plain connection, as an admin
    command would be) happens off the loop, so the service goes on answering meanwhile."""
    url = make_database_url("sqlite")
    async with kit_database(url) as db:
        other = sqlite3.connect(sqlite_file(url) or "", timeout=5, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # the other process holds the write lock
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        ticker = asyncio.create_task(tick())
        asyncio.get_running_loop().call_later(0.5, other.commit)  # ... for half a second
        try:
            started = asyncio.get_running_loop().time()
            async with transaction(db.sessions) as session:
                await session.execute(sa.insert(db.schema.counters).values(key="lead-1", count=1))
            waited = asyncio.get_running_loop().time() - started
        finally:
            ticker.cancel()
            other.close()
        assert await db.counters() == {"lead-1": 1}
    assert waited >= 0.45  # it did wait for the lock ...
    assert ticks >= 20  # ... while the loop ran other work (every 10 ms, give or take)


@pytest.mark.postgres
async def test_the_postgres_staging_table_does_not_grow_from_batch_to_batch(make_database_url: MakeDatabaseUrl) -> None:
    """Nothing vacuums a temporary table: without the truncation at each commit, every batch's rows
    would keep their space for as long as the connection lives."""
    async with kit_database(make_database_url("postgresql")) as db:
        sizes = []
        for batch in range(20):
            async with transaction(db.sessions) as session:
                connection = await session.connection()
                rows = [(f"lead-{n:05d}-{'x' * 150}", batch) for n in range(3000)]
                await insert_many(connection, "counters", ("key", "count"), rows, suffix=ADD_COUNT)
                sizes.append(await session.scalar(sa.text("SELECT pg_total_relation_size('counters_staging')")))

        async with read_transaction(db.sessions) as session:
            total = await session.scalar(sa.select(sa.func.sum(db.schema.counters.c.count)))
    assert total == 3000 * sum(range(20))  # every batch applied once
    assert sizes[-1] < 2 * sizes[0]  # what one batch needs, not twenty batches' worth
