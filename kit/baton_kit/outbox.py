"""The transactional outbox and its relay.

A state change and the events it causes are written in one transaction (`Outbox.add`); the
relay publishes committed rows in id order with acks=all and deletes them once the broker has
them (the events live on in Kafka; a row kept and marked sent instead would be rewritten whole,
payload included, and the table would grow with every event). Two relays are safe: only the one
holding the relay lock publishes (a PostgreSQL advisory lock, or a file lock beside the SQLite
database), so no row is published twice by them and per-key order is kept. A crash after
publishing and before deleting sends the batch again: consumers de-duplicate on the event id
(the inbox), which is why this is enough.
"""

from __future__ import annotations

import asyncio
import functools
import random
import zlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import sleep_or_stop, wait_any
from baton_kit.clock import Clock
from baton_kit.db import after_commit, insert_many, read_transaction, sqlite_autocommit, sqlite_file, transaction
from baton_kit.locks import FileLock
from baton_kit.metrics import KitMetrics
from baton_kit.types import AwareDateTime, bind_time

log = structlog.get_logger(__name__)
OUTBOX_COLUMNS = ("event_id", "topic", "key", "payload", "created_at")


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    """Rows waiting for the relay: every row in the table is unsent (a sent row is deleted)."""
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", AwareDateTime(), nullable=False),
    )


class Outbox:
    """Writes events into the outbox inside the caller's transaction and wakes the relay on commit."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.committed = asyncio.Event()

    async def add(
        self, session: AsyncSession, *, topic: str, event_id: str, key: str, payload: bytes, now: datetime
    ) -> None:
        await self.add_many(session, topic=topic, rows=[(event_id, key, payload)], now=now)

    async def add_event(self, session: AsyncSession, *, topic: str, cloud_event: Any, now: datetime) -> None:
        """Add a `baton_contracts.CloudEvent`: keyed by its subject, de-duplicated downstream by its id."""
        await self.add(
            session,
            topic=topic,
            event_id=cloud_event.id,
            key=cloud_event.subject,
            payload=cloud_event.model_dump_json().encode(),
            now=now,
        )

    async def add_events(
        self, session: AsyncSession, *, topic: str, cloud_events: Sequence[Any], now: datetime
    ) -> None:
        """`add_event` for many events in one statement (executemany), in the given order."""
        if not cloud_events:
            return
        await self.add_many(
            session,
            topic=topic,
            rows=[(e.id, e.subject, e.model_dump_json().encode()) for e in cloud_events],
            now=now,
        )

    async def add_many(
        self, session: AsyncSession, *, topic: str, rows: Sequence[tuple[str, str, bytes]], now: datetime
    ) -> None:
        """Add pre-serialised `(event_id, key, payload)` rows in one statement, in the given order."""
        if not rows:
            return
        connection = await session.connection()
        created_at = bind_time(now, dialect=connection.dialect.name)
        topic = str(topic)
        await insert_many(  # plain SQL: Core's per-row parameter processing costs more than the insert
            connection,
            self.table.name,
            OUTBOX_COLUMNS,
            [(event_id, topic, key, payload, created_at) for event_id, key, payload in rows],
        )
        self._wake_relay_on_commit(session)

    def _wake_relay_on_commit(self, session: AsyncSession) -> None:
        if session.info.get("outbox_wakes_relay"):
            return
        session.info["outbox_wakes_relay"] = True

        def wake() -> None:
            session.info.pop("outbox_wakes_relay", None)
            self.committed.set()

        after_commit(session, wake)


class OutboxRelay:
    def __init__(
        self,
        *,
        outbox: Outbox,
        sessions: async_sessionmaker[AsyncSession],
        producer: AIOKafkaProducer,
        clock: Clock,
        metrics: KitMetrics,
        lock_name: str,
        batch_size: int = 4000,
        idle_seconds: float = 0.5,
    ) -> None:
        self.outbox = outbox
        self.table = outbox.table
        self.sessions = sessions
        self.producer = producer
        self.clock = clock
        self.metrics = metrics
        self.lock_key = zlib.crc32(lock_name.encode()) & 0x7FFFFFFF
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self._file_lock = sqlite_relay_lock(sessions)

    def close(self) -> None:
        if self._file_lock is not None:
            self._file_lock.release()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; sleeps when idle, woken early by a commit that added rows."""
        backoff = 0.1
        try:
            while not stop.is_set():
                # Clear before reading: a commit that lands while this pass runs sets it again,
                # and the wait below then returns at once instead of sleeping past new rows.
                self.outbox.committed.clear()
                try:
                    published = await self.publish_batch()
                    backoff = 0.1
                except Exception:  # broker or database down: nothing deleted, try again
                    self.metrics.infrastructure_failures.labels(stage="outbox_relay").inc()
                    log.warning("outbox relay failed; retrying", backoff_seconds=backoff, exc_info=True)
                    await sleep_or_stop(stop, backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                if published < self.batch_size:
                    await wait_any(stop, self.outbox.committed, timeout=self.idle_seconds)
            await self._drain_on_stop()
        finally:
            self.close()

    async def _drain_on_stop(self, *, timeout: float = 5.0) -> None:
        """Best effort on a graceful stop: publish what is committed now instead of at the next start.

        Bounded by `timeout`; whatever is left (broker down, a long backlog) waits for the next relay.
        """

        async def drain() -> None:
            while await self.publish_batch() >= self.batch_size:
                pass

        try:
            await asyncio.wait_for(drain(), timeout)
        except Exception:
            log.info("outbox relay stopped with rows left to publish", exc_info=True)

    async def publish_batch(self) -> int:
        """Publish up to `batch_size` rows, then delete them; returns how many were published.

        PostgreSQL: the advisory lock lives as long as the transaction, and publishing inside it
        blocks no writer (MVCC). SQLite: publishing inside a transaction would hold the database's
        only write lock for a broker round trip, so the relay holds a file lock beside the
        database instead and reads and deletes rows in two short transactions.
        """
        if self._file_lock is not None:
            if not self._file_lock.acquire():
                return 0
            async with read_transaction(self.sessions) as session:  # no writer waits for this read
                rows = await self._oldest(session)
            await self._publish(rows)
            if rows:
                # Ids are contiguous among committed rows: SQLite's single writer numbers a row after
                # every row committed before it, so nothing unpublished lies inside the range.
                delete = f"DELETE FROM {self.table.name} WHERE id BETWEEN ? AND ?"
                await sqlite_autocommit(self.sessions, delete, (rows[0].id, rows[-1].id))
            return len(rows)
        async with transaction(self.sessions) as session:
            got_lock = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(self.lock_key)))
            if not got_lock:
                self.metrics.outbox_pending.set(0)  # another instance relays this database's outbox
                return 0
            rows = await self._oldest(session)
            await self._publish(rows)
            await self._delete(session, rows)
        return len(rows)

    async def _oldest(self, session: AsyncSession) -> Sequence[sa.Row[Any, Any, Any, Any]]:
        table = self.table
        columns = (table.c.id, table.c.topic, table.c.key, table.c.payload)
        rows = (await session.execute(sa.select(*columns).order_by(table.c.id).limit(self.batch_size))).all()
        self.metrics.outbox_pending.set(len(rows))
        return rows

    async def _publish(self, rows: Sequence[sa.Row[Any, Any, Any, Any]]) -> None:
        """Send in id order and wait for every ack (acks=all); raises if any send failed.

        Rows are packed into one record batch per partition (`send_batch`), partitioned by key exactly
        as `send` would: per record, `send` costs a future, a partitioner call (pure-Python murmur2)
        and an accumulator lookup, which at thousands of rows a second is most of the relay's time.
        """
        builders: dict[tuple[str, int], Any] = {}
        deliveries: list[asyncio.Future[Any]] = []
        partitions: dict[str, list[int]] = {}  # per batch: a topic that grows partitions is seen at once
        published: dict[str, int] = {}
        # Rows (`_oldest`'s columns) are unpacked: a SQLAlchemy Row's attribute costs ~200 ns a read,
        # unpacking all four ~60 ns, and a batch holds thousands.
        for n, (_, topic, key_text, payload) in enumerate(rows, 1):
            if n % 100 == 0:
                await asyncio.sleep(0)  # a consumer's transaction in flight takes its next step meanwhile
            key = key_text.encode() if key_text else None
            if topic not in partitions:
                partitions[topic] = sorted(await self.producer.partitions_for(topic))
            partition = _partition(partitions[topic], key)
            slot = (topic, partition)
            builder = builders.get(slot)
            if builder is None:
                builder = builders[slot] = self.producer.create_batch()
            if builder.append(key=key, value=payload, timestamp=None) is None:  # full: send it, start another
                deliveries.append(await self.producer.send_batch(builder, topic, partition=partition))
                builder = builders[slot] = self.producer.create_batch()
                builder.append(key=key, value=payload, timestamp=None)
            published[topic] = published.get(topic, 0) + 1
        for (topic, partition), builder in builders.items():
            deliveries.append(await self.producer.send_batch(builder, topic, partition=partition))
        await asyncio.gather(*deliveries)
        for topic, count in published.items():
            self.metrics.outbox_published.labels(topic=topic).inc(count)

    async def _delete(self, session: AsyncSession, rows: Sequence[sa.Row[Any, Any, Any, Any]]) -> None:
        if rows:
            await session.execute(sa.delete(self.table).where(self.table.c.id.in_([row[0] for row in rows])))


def _partition(partitions: list[int], key: bytes | None) -> int:
    """The partition `send` would pick: by key as aiokafka's `DefaultPartitioner`, else at random."""
    if key is None:
        return random.choice(partitions)
    return partitions[_murmur2_index(key, len(partitions))]


@functools.lru_cache(maxsize=65_536)
def _murmur2_index(key: bytes, partitions: int) -> int:
    """Kafka's default key → partition index (aiokafka's `DefaultPartitioner`), cached per key."""
    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


def sqlite_relay_lock(sessions: async_sessionmaker[AsyncSession]) -> FileLock | None:
    """The cross-process relay lock of a SQLite database file; None for other databases."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        return None
    database = sqlite_file(engine.url)
    return FileLock(f"{database}.outbox-relay.lock" if database else None)  # None: an in-memory database
