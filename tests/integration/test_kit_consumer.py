"""`ConsumerRunner` against the real broker and both databases: exactly-once application, dead
letters, infrastructure failures and where offsets stand after a stop, a cancel or a crash.

Each test has its own topic (+ `.dlq`) and consumer group, and its own database.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from aiokafka.errors import UnknownError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from support.databases import MakeDatabaseUrl, PostgresAdmin, database_name
from support.kafka import (
    MakeTopic,
    committed_offsets,
    fast_consumer_config,
    next_offsets,
    produce,
    produce_events,
    read_topic,
    unique_name,
)
from support.kit import (
    T0,
    HoldAfterCommitSession,
    KitDatabase,
    RecordingHandler,
    RunningConsumer,
    counter_value,
    engagement,
    engagements,
    kit_database,
    new_kit_metrics,
)
from support.waits import eventually

from baton_contracts import dlq_topic, parse_event
from baton_contracts.events import EventType
from baton_kit.clock import FrozenClock
from baton_kit.consumer import ConsumerRunner, Handler
from baton_kit.metrics import KitMetrics


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[KitDatabase]:
    async with kit_database(database_url) as database:
        yield database


@pytest.fixture
def metrics() -> KitMetrics:
    return new_kit_metrics()


def build_runner(
    *,
    db: KitDatabase,
    kafka_bootstrap: str,
    producer: AIOKafkaProducer,
    topic: str,
    group_id: str,
    handler: Handler[Any],
    metrics: KitMetrics,
    max_retries: int = 3,
    sessions: async_sessionmaker[AsyncSession] | None = None,
    pipelined: bool = False,
    max_batch: int = 500,
    decode: Callable[[bytes], Any] = parse_event,
) -> ConsumerRunner[Any]:
    config = fast_consumer_config(
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        topics=[topic],
        max_retries=max_retries,
        max_batch=max_batch,
    )
    return ConsumerRunner(
        config=dataclasses.replace(config, pipelined=pipelined),
        sessions=sessions or db.sessions,
        inbox=db.inbox,
        handler=handler,
        decode=decode,
        event_id=lambda event: event.id,
        dlq_topic=dlq_topic,
        producer=producer,
        clock=FrozenClock(T0),
        metrics=metrics,
    )


def once_each(ids: list[str]) -> dict[str, int]:
    """Ids applied more than once, with their counts (empty when every id was applied once)."""
    return {event_id: n for event_id, n in Counter(ids).items() if n != 1}


async def test_each_event_is_applied_exactly_once_and_redelivered_duplicates_change_nothing(
    db: KitDatabase, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, make_topic: MakeTopic, metrics: KitMetrics
) -> None:
    topic = await make_topic("exactly-once")
    keys = [f"lead-{i}" for i in range(6)]
    first = engagements(keys, per_key=5)
    handler = RecordingHandler(db.schema)
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=handler,
        metrics=metrics,
    )

    # the first event twice in a row: a duplicate inside one batch
    await produce_events(kafka_producer, topic, [first[0], *first])
    async with RunningConsumer(runner):
        await eventually(db.applied_event_ids, until=lambda ids: len(ids) >= len(first), what="first wave applied")
        # the same records again (a producer retry, an outbox re-publish), then one new event per
        # key: once the new ones are applied, the duplicates before them have been consumed
        redelivered = first[:10]
        later = [engagement(key, 99) for key in keys]
        await produce_events(kafka_producer, topic, [*redelivered, *later])
        await eventually(
            db.applied_event_ids,
            until=lambda ids: {e.id for e in later} <= set(ids),
            what="events after the duplicates applied",
        )

    applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == {e.id for e in [*first, *later]}
    assert await db.counters() == dict.fromkeys(keys, 6)
    assert counter_value(metrics.records_applied, topic=topic) == len(first) + len(later)
    assert counter_value(metrics.records_duplicate, topic=topic) == 1 + len(redelivered)


async def test_record_that_is_not_a_valid_event_is_dead_lettered_with_the_error_and_its_partition_moves_on(
    db: KitDatabase, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, make_topic: MakeTopic, metrics: KitMetrics
) -> None:
    topic = await make_topic("invalid")
    key = "lead-invalid"
    before, after_1, after_2 = engagement(key, 1), engagement(key, 2), engagement(key, 3)
    not_json = b"this is not an event"
    mismatched = engagement(key, 4).model_dump(mode="json")
    mismatched["type"] = EventType.LEAD_SCORED.value  # an engagement's data under another type
    mismatched_value = json.dumps(mismatched).encode()
    handler = RecordingHandler(db.schema)
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=handler,
        metrics=metrics,
    )

    await produce_events(kafka_producer, topic, [before])
    bad = [(key.encode(), not_json), (key.encode(), None), (key.encode(), mismatched_value)]  # None: a tombstone
    sent = await produce(kafka_producer, topic, bad)
    await produce_events(kafka_producer, topic, [after_1, after_2])
    async with RunningConsumer(runner):
        await eventually(db.applied_event_ids, until=lambda ids: after_2.id in ids, what="records after the bad ones")
        dead = await read_topic(kafka_bootstrap, dlq_topic(topic), expect=3)

    assert await db.applied_event_ids() == [before.id, after_1.id, after_2.id]
    assert [r.value for r in dead] == [not_json, None, mismatched_value]
    assert [r.header("error.type") for r in dead] == ["ValidationError", "ValueError", "ValidationError"]
    assert "tombstone" in dead[1].header("error.message")
    for record, original in zip(dead, sent, strict=True):
        assert record.key == key.encode()
        assert record.header("error.reason") == "invalid"
        assert record.header("error.message")
        assert record.header("original.topic") == topic
        assert (int(record.header("original.partition")), int(record.header("original.offset"))) == (
            original.partition,
            original.offset,
        )
    assert "score" in dead[2].header("error.message")  # names what the declared type lacks
    assert counter_value(metrics.records_dead_lettered, topic=topic, reason="invalid") == 3


async def test_a_bad_record_too_large_to_copy_with_its_error_is_dead_lettered_without_its_value(
    db: KitDatabase, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, make_topic: MakeTopic, metrics: KitMetrics
) -> None:
    """Just under the producer's 1 MiB, the copy with the error's headers passes it: it used to be retried
    forever (the size error is a Kafka error, taken for an outage), and the partition stood still."""
    topic = await make_topic("oversized")
    key = "lead-oversized"
    after = engagement(key, 1)
    huge = b"x" * 1_048_450  # not an event; the producer takes up to 1,048,576 bytes a request
    await produce(kafka_producer, topic, [(key.encode(), huge)])
    await produce_events(kafka_producer, topic, [after])
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=RecordingHandler(db.schema),
        metrics=metrics,
    )
    async with RunningConsumer(runner):
        await eventually(db.applied_event_ids, until=lambda ids: after.id in ids, what="the record after it")
        (dead,) = await read_topic(kafka_bootstrap, dlq_topic(topic), expect=1)
    assert dead.value is None
    assert dead.header("value.dropped_bytes") == str(len(huge))
    assert dead.header("error.reason") == "invalid"


async def test_event_whose_handler_keeps_failing_is_dead_lettered_after_max_retries_and_the_rest_applied(
    db: KitDatabase, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, make_topic: MakeTopic, metrics: KitMetrics
) -> None:
    topic = await make_topic("poison")
    events = engagements(["lead-a", "lead-b", "lead-c"], per_key=4)
    poison = events[5]
    handler = RecordingHandler(db.schema)
    handler.poison = {poison.id}
    max_retries = 3
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=handler,
        metrics=metrics,
        max_retries=max_retries,
    )

    await produce_events(kafka_producer, topic, events)
    async with RunningConsumer(runner):
        healthy = {e.id for e in events} - {poison.id}
        await eventually(db.applied_event_ids, until=lambda ids: healthy <= set(ids), what="healthy events applied")
        dead = await read_topic(kafka_bootstrap, dlq_topic(topic), expect=1)

    applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == healthy
    assert poison.id not in await db.inbox_ids()  # rolled back with its effects: a replay can still apply it
    assert len(dead) == 1
    assert parse_event(dead[0].value) == poison
    assert dead[0].key == poison.subject.encode()
    assert dead[0].header("error.reason") == "handler_failed"
    assert dead[0].header("error.type") == "HandlerFailed"
    assert poison.id in dead[0].header("error.message")
    # once inside its batch, then max_retries times on its own
    assert handler.attempts[poison.id] == 1 + max_retries
    assert counter_value(metrics.handler_retries, topic=topic) == max_retries
    assert counter_value(metrics.records_dead_lettered, topic=topic, reason="handler_failed") == 1


class DriverOutage:
    """Every statement on `engine` fails as the driver fails when the server is gone, while active.

    Raised from the DBAPI layer (the driver's own `OperationalError`), so SQLAlchemy wraps and
    classifies it exactly as a real outage; the inbox claim fails before the handler is reached.
    """

    def __init__(self, db: KitDatabase) -> None:
        self.active = False
        self.failed_statements = 0
        sa.event.listen(db.engine.sync_engine, "before_cursor_execute", self._before_execute)

    def _before_execute(self, connection: sa.Connection, *_args: Any) -> None:
        if self.active:
            self.failed_statements += 1
            raise connection.dialect.loaded_dbapi.OperationalError("server closed the connection unexpectedly")


async def test_database_outage_commits_nothing_is_counted_and_every_record_is_applied_once_after_recovery(
    db: KitDatabase,
    database_url: str,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
    metrics: KitMetrics,
) -> None:
    topic = await make_topic("outage")
    group_id = unique_name("g")
    keys = ["lead-a", "lead-b", "lead-c", "lead-d"]
    before, during = engagements(keys, per_key=2), [engagement(key, 10 + n) for n in range(3) for key in keys]
    handler = RecordingHandler(db.schema)
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=group_id,
        handler=handler,
        metrics=metrics,
    )
    outage = DriverOutage(db)
    infra_failures = metrics.infrastructure_failures

    async with kit_database(database_url, create=False) as observer, RunningConsumer(runner):
        sent_before = await produce_events(kafka_producer, topic, before)
        await eventually(
            lambda: committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic),
            until=lambda c: c == next_offsets(sent_before),
            what="offsets of the first wave committed",
        )
        outage.active = True
        await produce_events(kafka_producer, topic, during)
        await eventually(
            lambda: counter_value(infra_failures, stage="consumer"),
            until=lambda n: n >= 3,
            what="three failed attempts",
        )
        # nothing applied, nothing committed, nothing dead-lettered while the database is down
        applied_so_far = await observer.applied_event_ids()
        assert sorted(applied_so_far) == sorted(e.id for e in before)
        assert await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic) == next_offsets(sent_before)
        assert not any(handler.attempts[e.id] for e in during)
        outage.active = False
        await eventually(
            db.applied_event_ids,
            until=lambda ids: len(ids) >= len(before) + len(during),
            what="records held back by the outage applied",
        )

    applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == {e.id for e in [*before, *during]}
    assert outage.failed_statements >= 3
    assert counter_value(metrics.records_dead_lettered, topic=topic, reason="handler_failed") == 0
    assert counter_value(metrics.handler_retries, topic=topic) == 0
    assert await read_topic(kafka_bootstrap, dlq_topic(topic), expect=0, settle=0.3) == []


@pytest.mark.postgres
async def test_postgres_database_going_away_holds_records_back_until_it_returns_and_dead_letters_none(
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
    make_database_url: MakeDatabaseUrl,
    postgres_admin: PostgresAdmin,
    metrics: KitMetrics,
) -> None:
    url = make_database_url("postgresql")
    topic = await make_topic("pg-down")
    group_id = unique_name("g")
    keys = ["lead-a", "lead-b", "lead-c"]
    before, during = engagements(keys, per_key=2), [engagement(key, 10 + n) for n in range(3) for key in keys]

    async with kit_database(url) as db:
        handler = RecordingHandler(db.schema)
        runner = build_runner(
            db=db,
            kafka_bootstrap=kafka_bootstrap,
            producer=kafka_producer,
            topic=topic,
            group_id=group_id,
            handler=handler,
            metrics=metrics,
        )
        async with RunningConsumer(runner):
            sent_before = await produce_events(kafka_producer, topic, before)
            await eventually(
                lambda: committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic),
                until=lambda c: c == next_offsets(sent_before),
                what="offsets of the first wave committed",
            )
            postgres_admin.take_offline(database_name(url))
            try:
                await produce_events(kafka_producer, topic, during)
                await eventually(
                    lambda: counter_value(metrics.infrastructure_failures, stage="consumer"),
                    until=lambda n: n >= 3,
                    what="three failed attempts",
                )
                committed = await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic)
                assert committed == next_offsets(sent_before)
            finally:
                postgres_admin.bring_online(database_name(url))
            await eventually(
                db.applied_event_ids,
                until=lambda ids: len(ids) >= len(before) + len(during),
                timeout=20,
                what="records held back by the outage applied",
            )

        applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == {e.id for e in [*before, *during]}
    assert counter_value(metrics.records_dead_lettered, topic=topic, reason="handler_failed") == 0
    assert await read_topic(kafka_bootstrap, dlq_topic(topic), expect=0, settle=0.3) == []


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-batch-at-a-time", "pipelined"])
async def test_runner_stopped_gracefully_commits_its_offsets_so_the_next_runner_neither_reapplies_nor_skips(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
    pipelined: bool,
) -> None:
    topic = await make_topic("restart")
    group_id = unique_name("g")
    keys = ["lead-a", "lead-b", "lead-c", "lead-d", "lead-e"]
    first, second = engagements(keys, per_key=4), [engagement(key, 10 + n) for n in range(2) for key in keys]
    metrics_a, metrics_b = new_kit_metrics(), new_kit_metrics()

    runner_in_group = functools.partial(
        build_runner,
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=group_id,
        pipelined=pipelined,
        max_batch=3,  # several batches (and, pipelined, a transaction left running across fetches)
    )

    sent_first = await produce_events(kafka_producer, topic, first)
    runner_a = runner_in_group(handler=RecordingHandler(db.schema), metrics=metrics_a)
    async with RunningConsumer(runner_a):
        await eventually(db.applied_event_ids, until=lambda ids: len(ids) >= len(first), what="first wave applied")

        async def committed_and_held() -> tuple[dict[int, int], dict[str, Any]]:
            return await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic), runner_a.progress()

        # while it runs, once idle: the last batch's offset too (pipelined: its transaction settled)
        await eventually(
            committed_and_held,
            until=lambda seen: seen[0] == next_offsets(sent_first),
            what="offsets committed while running (last seen: committed, and what the runner holds)",
        )
    assert await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic) == next_offsets(sent_first)

    await produce_events(kafka_producer, topic, second)
    handler_b = RecordingHandler(db.schema)
    async with RunningConsumer(runner_in_group(handler=handler_b, metrics=metrics_b)):
        await eventually(
            db.applied_event_ids,
            until=lambda ids: len(ids) >= len(first) + len(second),
            what="second wave applied by the new runner",
        )
        await asyncio.sleep(0.3)  # room for a wrongly redelivered first wave to show up

    applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == {e.id for e in [*first, *second]}
    # the new runner was not even offered the first wave: offsets, not the inbox, kept it away
    assert set(handler_b.attempts) == {e.id for e in second}
    assert counter_value(metrics_b.records_duplicate, topic=topic) == 0


@pytest.mark.parametrize("pipelined", [False, True], ids=["one-batch-at-a-time", "pipelined"])
async def test_a_broker_error_handed_to_a_fetch_is_counted_and_polled_past_and_nothing_is_lost_or_reapplied(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
    metrics: KitMetrics,
    pipelined: bool,
) -> None:
    topic = await make_topic("hiccup")
    keys = [f"lead-{n}" for n in range(5)]
    first, second = engagements(keys, per_key=3), [engagement(key, 10) for key in keys]
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=RecordingHandler(db.schema),
        metrics=metrics,
        pipelined=pipelined,
        max_batch=4,
    )
    await produce_events(kafka_producer, topic, first)
    async with RunningConsumer(runner) as running:
        await eventually(db.applied_event_ids, until=lambda ids: len(ids) >= len(first), what="first wave applied")
        # What aiokafka does when its group coordinator fails (a join or heartbeat the broker answered
        # with an error): the error waits for the next fetch, which raises it and fetches nothing.
        coordinator = running.runner._consumer._coordinator  # type: ignore[union-attr]
        taken = asyncio.ensure_future(coordinator._push_error_to_user(UnknownError()))
        await eventually(lambda: taken.done(), until=bool, what="the error taken by a fetch")
        await produce_events(kafka_producer, topic, second)
        await eventually(
            db.applied_event_ids, until=lambda ids: len(ids) >= len(first) + len(second), what="second wave applied"
        )
        assert running.task is not None and not running.task.done(), "the runner went on"
    applied = await db.applied_event_ids()
    assert once_each(applied) == {}
    assert set(applied) == {e.id for e in [*first, *second]}
    # counted (aiokafka may raise it twice: to the fetch waiting, and to the next one)
    assert counter_value(metrics.infrastructure_failures, stage="consumer") >= 1


class PacedHandler:
    """`RecordingHandler` that takes a while per batch and records what a pipelined runner had decoded ahead
    of each batch (records decoded, less those handed to a transaction so far) and whether two overlapped."""

    def __init__(self, inner: RecordingHandler, *, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.decoded = self.handed = self.running = 0
        self.ahead: list[int] = []
        self.overlapped = False

    def decode(self, value: bytes) -> Any:
        self.decoded += 1
        return parse_event(value)

    async def __call__(self, session: AsyncSession, events: list[Any]) -> None:
        self.running += 1
        self.overlapped |= self.running > 1
        self.handed += len(events)
        self.ahead.append(self.decoded - self.handed)
        try:
            await asyncio.sleep(self.seconds)
            await self.inner(session, events)
        finally:
            self.running -= 1


async def test_pipelined_runner_prepares_the_next_batch_ahead_and_still_applies_batches_one_at_a_time_in_order(
    db: KitDatabase, kafka_bootstrap: str, kafka_producer: AIOKafkaProducer, make_topic: MakeTopic
) -> None:
    topic = await make_topic("pipeline", partitions=1)
    keys = ["lead-a", "lead-b"]
    events = engagements(keys, per_key=12)
    await produce_events(kafka_producer, topic, events)
    handler = PacedHandler(RecordingHandler(db.schema), seconds=0.05)
    runner = build_runner(
        db=db,
        kafka_bootstrap=kafka_bootstrap,
        producer=kafka_producer,
        topic=topic,
        group_id=unique_name("g"),
        handler=handler,
        metrics=new_kit_metrics(),
        pipelined=True,
        max_batch=2,
        decode=handler.decode,
    )
    async with RunningConsumer(runner):
        await eventually(db.applied_event_ids, until=lambda ids: len(ids) == len(events), what="every event applied")

    assert await db.applied_event_ids() == [e.id for e in events]  # in offset order, each once
    assert not handler.overlapped  # transactions took turns
    # while a batch's transaction ran, the next batch had been decoded, and no more
    assert max(handler.ahead) == 2


async def test_runner_cancelled_inside_a_batch_commits_nothing_and_the_next_runner_applies_the_batch_once(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
    metrics: KitMetrics,
) -> None:
    topic = await make_topic("cancel")
    group_id = unique_name("g")
    key = "lead-cancelled"
    events = [engagement(key, n) for n in range(6)]
    stuck = events[3]
    handler_a = RecordingHandler(db.schema)
    handler_a.block_on = stuck.id

    sent = await produce_events(kafka_producer, topic, events)
    running_a = await RunningConsumer(
        build_runner(
            db=db,
            kafka_bootstrap=kafka_bootstrap,
            producer=kafka_producer,
            topic=topic,
            group_id=group_id,
            handler=handler_a,
            metrics=metrics,
        )
    ).start()
    await asyncio.wait_for(handler_a.blocked.wait(), 15)
    await running_a.cancel()

    applied_before = await db.applied_event_ids()
    assert stuck.id not in applied_before  # its batch was rolled back
    partition = sent[0].partition
    committed = await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic)
    assert committed.get(partition, 0) <= sent[3].offset  # and its offsets not committed
    assert applied_before == [e.id for e in events[: len(applied_before)]]  # only whole batches before it

    handler_b = RecordingHandler(db.schema)
    async with RunningConsumer(
        build_runner(
            db=db,
            kafka_bootstrap=kafka_bootstrap,
            producer=kafka_producer,
            topic=topic,
            group_id=group_id,
            handler=handler_b,
            metrics=metrics,
        )
    ):
        await eventually(db.applied_event_ids, until=lambda ids: len(ids) >= len(events), what="batch redelivered")
        await asyncio.sleep(0.3)

    applied = await db.applied_event_ids()
    assert applied == [e.id for e in events]  # each once, in partition order
    assert await db.counters() == {key: len(events)}


async def test_runner_dying_between_db_commit_and_offset_commit_is_redelivered_and_the_inbox_skips_it(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
) -> None:
    topic = await make_topic("crash")
    group_id = unique_name("g")
    key = "lead-crashed"
    events = [engagement(key, n) for n in range(5)]
    last = events[-1]
    held, resume = asyncio.Event(), asyncio.Event()
    holding_sessions = cast(
        async_sessionmaker[AsyncSession],
        async_sessionmaker(
            db.engine, class_=HoldAfterCommitSession, expire_on_commit=False, info={"held": held, "resume": resume}
        ),
    )
    recording_a = RecordingHandler(db.schema)

    async def handler_a(session: AsyncSession, batch: list[Any]) -> None:
        await recording_a(session, batch)
        if any(e.id == last.id for e in batch):
            session.info["hold_after_commit"] = True

    metrics_a, metrics_b = new_kit_metrics(), new_kit_metrics()
    sent = await produce_events(kafka_producer, topic, events)
    running_a = await RunningConsumer(
        build_runner(
            db=db,
            kafka_bootstrap=kafka_bootstrap,
            producer=kafka_producer,
            topic=topic,
            group_id=group_id,
            handler=handler_a,
            metrics=metrics_a,
            sessions=holding_sessions,
        )
    ).start()
    try:
        await asyncio.wait_for(held.wait(), 15)
        # Cancel while it is parked after the commit. SQLAlchemy lets a session's close finish
        # before the cancellation goes on, so let it resume: it then unwinds without
        # reaching the offset commit.
        running_a.cancel_nowait()
    finally:
        resume.set()
    await running_a.cancel()

    assert last.id in await db.applied_event_ids()  # the database is ahead...
    committed = await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic)
    assert committed.get(sent[-1].partition, 0) <= sent[-1].offset  # ...of the committed offsets

    handler_b = RecordingHandler(db.schema)
    async with RunningConsumer(
        build_runner(
            db=db,
            kafka_bootstrap=kafka_bootstrap,
            producer=kafka_producer,
            topic=topic,
            group_id=group_id,
            handler=handler_b,
            metrics=metrics_b,
        )
    ):
        await eventually(
            lambda: counter_value(metrics_b.records_duplicate, topic=topic),
            until=lambda n: n >= 1,
            what="the uncommitted batch redelivered",
        )
        await asyncio.sleep(0.3)

    assert await db.applied_event_ids() == [e.id for e in events]  # each once
    assert last.id not in handler_b.attempts  # the inbox filtered it before the handler
    assert await committed_offsets(kafka_bootstrap, group_id=group_id, topic=topic) == next_offsets(sent)
