"""The transactional outbox and its relay.

A state change and the events it causes are written in one transaction (`Outbox.add`); the
relay publishes committed rows in id order with acks=all and marks them sent. Two relays are
safe: only the one holding the relay lock publishes (a PostgreSQL advisory lock, or SQLite's
write lock), so no row is published twice by them and per-key order is kept.
A crash after publishing and before marking sends the batch again: consumers de-duplicate on
the event id (the inbox), which is why this is enough.
"""

from __future__ import annotations

import asyncio
import zlib
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import sleep_or_stop, wait_any
from baton_kit.clock import Clock
from baton_kit.db import transaction
from baton_kit.metrics import KitMetrics
from baton_kit.types import AwareDateTime

log = structlog.get_logger(__name__)


def outbox_table(metadata: sa.MetaData) -> sa.Table:
    return sa.Table(
        "outbox",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=True),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", AwareDateTime(), nullable=False),
        sa.Column("sent_at", AwareDateTime(), nullable=True),
        sa.Index("ix_outbox_unsent", "id", postgresql_where=sa.text("sent_at IS NULL"),
                 sqlite_where=sa.text("sent_at IS NULL")),
    )


class Outbox:
    """Writes events into the outbox inside the caller's transaction and wakes the relay on commit."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.committed = asyncio.Event()

    async def add(self, session: AsyncSession, *, topic: str, event_id: str, key: str, payload: bytes, now: datetime) -> None:
        await session.execute(
            sa.insert(self.table).values(event_id=event_id, topic=topic, key=key, payload=payload, created_at=now)
        )
        self._wake_relay_on_commit(session)

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

    def _wake_relay_on_commit(self, session: AsyncSession) -> None:
        sync_session = session.sync_session
        if not event.contains(sync_session, "after_commit", self._on_commit):
            event.listen(sync_session, "after_commit", self._on_commit)

    def _on_commit(self, _session: Any) -> None:
        self.committed.set()


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
        batch_size: int = 1000,
        idle_seconds: float = 0.5,
        retention: timedelta = timedelta(days=1),
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
        self.retention = retention

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; sleeps when idle, woken early by a commit that added rows."""
        backoff = 0.1
        passes = 0
        while not stop.is_set():
            # Clear before reading: a commit that lands while this pass runs sets it again,
            # and the wait below then returns at once instead of sleeping past new rows.
            self.outbox.committed.clear()
            try:
                published = await self.publish_batch()
                backoff = 0.1
            except Exception:  # broker or database down: nothing marked sent, try again
                self.metrics.infrastructure_failures.labels(stage="outbox_relay").inc()
                log.warning("outbox relay failed; retrying", backoff_seconds=backoff, exc_info=True)
                await sleep_or_stop(stop, backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            passes += 1
            if passes % 1000 == 0:
                await self.prune()
            if published < self.batch_size:
                await wait_any(stop, self.outbox.committed, timeout=self.idle_seconds)

    async def publish_batch(self) -> int:
        """Publish up to `batch_size` unsent rows, oldest first; returns how many were published."""
        async with transaction(self.sessions) as session:
            if session.bind.dialect.name == "postgresql":
                got_lock = await session.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(self.lock_key)))
                if not got_lock:
                    return 0
            rows = (
                await session.execute(
                    sa.select(self.table.c.id, self.table.c.topic, self.table.c.key, self.table.c.payload)
                    .where(self.table.c.sent_at.is_(None))
                    .order_by(self.table.c.id)
                    .limit(self.batch_size)
                )
            ).all()
            self.metrics.outbox_pending.set(len(rows))
            if not rows:
                return 0
            deliveries = [
                await self.producer.send(row.topic, value=row.payload, key=row.key.encode() if row.key else None)
                for row in rows
            ]
            await asyncio.gather(*deliveries)
            await session.execute(
                sa.update(self.table).where(self.table.c.id.in_([row.id for row in rows])).values(sent_at=self.clock.now())
            )
        for row in rows:
            self.metrics.outbox_published.labels(topic=row.topic).inc()
        return len(rows)

    async def prune(self) -> None:
        """Delete rows sent longer ago than the retention."""
        async with transaction(self.sessions) as session:
            await session.execute(
                sa.delete(self.table).where(self.table.c.sent_at < self.clock.now() - self.retention)
            )
