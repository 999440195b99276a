"""A tiny service-shaped schema and handler for testing the kit's consumer, inbox and outbox for real.

The schema is the kit's own tables (created by `baton_kit.migrations.create_kit_tables`, exactly as
a service's first migration does) plus two tables the test handler writes:

- `applications`: one row per event the handler applied, with no uniqueness, so an event applied
  twice shows up as two rows instead of being hidden by a constraint;
- `counters`: a read-modify-write counter per key, the shape of a real projection.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from prometheus_client import Counter as PromCounter
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from baton_contracts import CloudEvent, new_event
from baton_contracts.events import EngagementRecorded, EventType
from baton_kit.consumer import ConsumerRunner
from baton_kit.db import create_engine, new_metadata, session_factory, transaction
from baton_kit.inbox import Inbox, inbox_table
from baton_kit.metrics import KitMetrics
from baton_kit.migrations import create_kit_tables
from baton_kit.outbox import Outbox, outbox_table

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
SOURCE = "/baton/tests"


class KitSchema:
    """The test schema's tables, built on a fresh `MetaData` (so each test can have its own)."""

    def __init__(self) -> None:
        self.metadata = new_metadata()
        self.outbox = outbox_table(self.metadata)
        self.inbox = inbox_table(self.metadata)
        self.applications = sa.Table(
            "applications",
            self.metadata,
            sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=True),
            sa.Column("event_id", sa.String(200), nullable=False),
            sa.Column("key", sa.String(200), nullable=False),
        )
        self.counters = sa.Table(
            "counters",
            self.metadata,
            sa.Column("key", sa.String(200), primary_key=True),
            sa.Column("count", sa.Integer(), nullable=False),
        )

    def create(self, connection: Connection) -> None:
        """Kit tables through the kit's migration helper, the handler's tables with `create_all`."""
        create_kit_tables(Operations(MigrationContext.configure(connection)))
        self.metadata.create_all(connection, tables=[self.applications, self.counters])


@dataclass
class KitDatabase:
    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    schema: KitSchema

    @property
    def inbox(self) -> Inbox:
        return Inbox(self.schema.inbox)

    async def applied_event_ids(self) -> list[str]:
        """Every application in order, repeats included (an id twice means applied twice)."""
        async with transaction(self.sessions) as session:
            rows = await session.scalars(
                sa.select(self.schema.applications.c.event_id).order_by(self.schema.applications.c.seq)
            )
            return list(rows)

    async def counters(self) -> dict[str, int]:
        async with transaction(self.sessions) as session:
            rows = await session.execute(sa.select(self.schema.counters.c.key, self.schema.counters.c.count))
            return {key: count for key, count in rows}

    async def inbox_ids(self) -> set[str]:
        async with transaction(self.sessions) as session:
            return set(await session.scalars(sa.select(self.schema.inbox.c.event_id)))

    async def outbox_rows(self) -> list[sa.Row[Any]]:
        async with transaction(self.sessions) as session:
            return list(await session.execute(sa.select(self.schema.outbox).order_by(self.schema.outbox.c.id)))


@asynccontextmanager
async def kit_database(url: str, *, create: bool = True) -> AsyncIterator[KitDatabase]:
    """An engine on `url` with the test schema created (unless `create=False`: a second engine, a
    second "replica", on a database that already has it). Disposed on exit."""
    engine = create_engine(url)
    schema = KitSchema()
    try:
        if create:
            async with engine.begin() as connection:
                await connection.run_sync(schema.create)
        yield KitDatabase(url=url, engine=engine, sessions=session_factory(engine), schema=schema)
    finally:
        await engine.dispose()


def engagement(key: str, n: int, *, event_id: str | None = None) -> CloudEvent[EngagementRecorded]:
    """The `n`th engagement event of lead `key`; `event_id` fixes the id (a redelivery)."""
    at = T0 + timedelta(seconds=n)
    return new_event(
        event_type=EventType.ENGAGEMENT_RECORDED,
        source=SOURCE,
        subject=key,
        time=at,
        id=event_id or f"{key}-{n}-{uuid.uuid4().hex[:8]}",
        data=EngagementRecorded(lead_id=key, activity="page_view", occurred_at=at, source="tests", properties={"n": n}),
    )


def engagements(keys: list[str], per_key: int) -> list[CloudEvent[EngagementRecorded]]:
    """`per_key` events for each key, interleaved across keys as real traffic is."""
    return [engagement(key, n) for n in range(per_key) for key in keys]


class HandlerFailed(Exception):
    """What the test handler raises for a poison event: a plain bug, not an infrastructure failure."""


class RecordingHandler:
    """The consumer handler under test: records each event in `applications` and bumps its key's counter.

    - `poison`: ids whose application raises `HandlerFailed` every time;
    - `block_on`: an id at which the handler stops (effects of earlier events in the batch already
      written in the open transaction) until `release` is set; `blocked` is set when it gets there;
    - `attempts`: how many times each id was handed to the handler, commits or not.
    """

    def __init__(self, schema: KitSchema) -> None:
        self.schema = schema
        self.poison: set[str] = set()
        self.block_on: str | None = None
        self.blocked = asyncio.Event()
        self.release = asyncio.Event()
        self.attempts: Counter[str] = Counter()

    async def __call__(self, session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
        for event in events:
            self.attempts[event.id] += 1
            if event.id in self.poison:
                raise HandlerFailed(f"cannot apply {event.id}")
            if event.id == self.block_on:
                self.blocked.set()
                await self.release.wait()
            await session.execute(sa.insert(self.schema.applications).values(event_id=event.id, key=event.subject))
            current = await session.scalar(
                sa.select(self.schema.counters.c.count).where(self.schema.counters.c.key == event.subject)
            )
            if current is None:
                await session.execute(sa.insert(self.schema.counters).values(key=event.subject, count=1))
            else:
                await session.execute(
                    sa.update(self.schema.counters)
                    .where(self.schema.counters.c.key == event.subject)
                    .values(count=current + 1)
                )


def new_kit_metrics() -> KitMetrics:
    """Metrics under a name of their own (prometheus' registry is global), so counts start at zero."""
    return KitMetrics(f"kittest_{uuid.uuid4().hex[:10]}")


def counter_value(counter: PromCounter, **labels: str) -> float:
    """The current value of `counter` for `labels` (0 when never incremented)."""
    for family in counter.collect():
        for sample in family.samples:
            if sample.name.endswith("_total") and sample.labels == labels:
                return sample.value
    return 0.0


def new_outbox(db: KitDatabase) -> Outbox:
    return Outbox(db.schema.outbox)


class RunningConsumer:
    """A `ConsumerRunner` running in a task, stopped the way a service stops it (or cancelled, or left hanging).

    `async with RunningConsumer(runner) as running:` starts it and, on exit, stops it gracefully
    (stop event, drain, commit) unless the test already stopped or cancelled it. A runner that
    crashed makes `stop()` raise its exception, so a test cannot pass over a dead consumer.
    """

    def __init__(self, runner: ConsumerRunner[Any]) -> None:
        self.runner = runner
        self.stop_event = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self._cancel_requested = False

    async def start(self, *, timeout: float = 15.0) -> RunningConsumer:
        self.task = asyncio.create_task(self.runner.run(self.stop_event), name="consumer-under-test")
        ready = asyncio.create_task(self.runner.ready.wait())
        done, _ = await asyncio.wait({self.task, ready}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            if self.task in done:
                self.task.result()  # raises what killed it
            raise AssertionError(f"consumer did not start within {timeout:.0f}s")
        return self

    async def stop(self, *, timeout: float = 15.0) -> None:
        """Set the stop event and wait for the runner to drain, commit and close its consumer."""
        assert self.task is not None
        self.stop_event.set()
        await asyncio.wait_for(asyncio.shield(self.task), timeout)

    def cancel_nowait(self) -> None:
        """Ask for cancellation without waiting (then `await cancel()` to wait for it)."""
        assert self.task is not None
        if not self._cancel_requested:
            self._cancel_requested = True
            self.task.cancel()

    async def cancel(self) -> None:
        """Cancel the task wherever it is (mid-batch included), the in-process stand-in for a crash,
        and wait until it has unwound."""
        assert self.task is not None
        self.cancel_nowait()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def __aenter__(self) -> RunningConsumer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.task is not None
        if self.task.done():
            if not self.task.cancelled():
                self.task.result()
            return
        await self.stop()


class HoldAfterCommitSession(AsyncSession):
    """A session that a handler can mark (`session.info["hold_after_commit"] = True`) to pause after
    its transaction committed, before the session closes and the runner commits offsets.

    Parked there, a runner is exactly where a crash leaves the database ahead of Kafka: the
    effects are committed, the offsets are not. The sessionmaker's `info` carries the `held`
    event (set on arrival) and the `resume` event that lets it go on.
    """

    async def close(self) -> None:
        if self.info.get("hold_after_commit"):
            self.info["held"].set()
            await self.info["resume"].wait()
        await super().close()


@asynccontextmanager
async def running(
    run: Callable[[asyncio.Event], Coroutine[Any, Any, None]], *, timeout: float = 15.0
) -> AsyncIterator[asyncio.Task[None]]:
    """Run a stop-event worker (an outbox relay, a timer) in a task; on exit set its stop event and
    wait for it, re-raising whatever it died of."""
    stop = asyncio.Event()
    task = asyncio.create_task(run(stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout)
