"""`Outbox` and `OutboxRelay` against the real broker and both databases: what is published, in
which order, with which key, and that two relays never publish a row twice."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from support.kafka import MakeTopic, Record, read_topic, unique_name
from support.kit import T0, KitDatabase, counter_value, engagement, kit_database, new_kit_metrics, running
from support.waits import eventually

from baton_contracts import CloudEvent, parse_event
from baton_kit.clock import FrozenClock
from baton_kit.db import transaction
from baton_kit.metrics import KitMetrics
from baton_kit.outbox import Outbox, OutboxRelay


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[KitDatabase]:
    async with kit_database(database_url) as database:
        yield database


def build_relay(
    db: KitDatabase,
    outbox: Outbox,
    producer: AIOKafkaProducer,
    metrics: KitMetrics,
    *,
    lock_name: str,
    batch_size: int = 5,
) -> OutboxRelay:
    return OutboxRelay(
        outbox=outbox,
        sessions=db.sessions,
        producer=producer,
        clock=FrozenClock(T0),
        metrics=metrics,
        lock_name=lock_name,
        batch_size=batch_size,
        idle_seconds=0.02,
    )


async def add_in_one_transaction(db: KitDatabase, outbox: Outbox, topic: str, events: list[CloudEvent[Any]]) -> None:
    async with transaction(db.sessions) as session:
        for event in events:
            await outbox.add_event(session, topic=topic, cloud_event=event, now=T0)


async def unsent_rows(db: KitDatabase) -> int:
    return len(await db.outbox_rows())  # a row is deleted once the broker has it


def ids_by_key(records: list[Record]) -> dict[str, list[str]]:
    """Key → event ids in the order a consumer of the topic sees them."""
    result: dict[str, list[str]] = defaultdict(list)
    for record in records:
        assert record.key is not None
        result[record.key.decode()].append(parse_event(record.value).id)
    return dict(result)


def expected_by_key(events: list[CloudEvent[Any]]) -> dict[str, list[str]]:
    result: dict[str, list[str]] = defaultdict(list)
    for event in events:
        result[event.subject].append(event.id)
    return dict(result)


async def test_relay_publishes_committed_rows_in_id_order_per_key_with_the_row_key_and_marks_them_sent(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
) -> None:
    topic = await make_topic("outbox-order")
    keys = ["lead-a", "lead-b", "lead-c", "lead-d"]
    events = [engagement(keys[n % len(keys)], n) for n in range(24)]
    outbox, metrics = Outbox(db.schema.outbox), new_kit_metrics()
    for start in range(0, len(events), 8):  # three transactions
        await add_in_one_transaction(db, outbox, topic, events[start : start + 8])

    relay = build_relay(db, outbox, kafka_producer, metrics, lock_name=unique_name("relay"), batch_size=5)
    async with running(relay.run):
        await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, what="every row sent and deleted")
        records = await read_topic(kafka_bootstrap, topic, expect=len(events))

    assert len(records) == len(events)
    assert ids_by_key(records) == expected_by_key(events)
    for record in records:
        assert record.key == parse_event(record.value).subject.encode()
    assert sorted(r.value for r in records) == sorted(e.model_dump_json().encode() for e in events)
    assert await db.outbox_rows() == []
    assert counter_value(metrics.outbox_published, topic=topic) == len(events)


async def test_rows_of_an_open_transaction_wait_for_its_commit_and_rows_of_a_rolled_back_one_are_never_published(
    db: KitDatabase,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
) -> None:
    topic = await make_topic("outbox-rollback")
    outbox, metrics = Outbox(db.schema.outbox), new_kit_metrics()
    committed_first = [engagement("lead-a", n) for n in range(3)]
    rolled_back = [engagement("lead-a", 10 + n) for n in range(3)]
    committed_last = [engagement("lead-a", 20 + n) for n in range(3)]

    class Abandon(Exception):
        pass

    async def write_then_abandon() -> None:
        async with transaction(db.sessions) as session:
            for event in rolled_back:
                await outbox.add_event(session, topic=topic, cloud_event=event, now=T0)
            await session.flush()
            await asyncio.sleep(0.3)  # written, not committed, while the relay keeps polling
            raise Abandon

    relay = build_relay(db, outbox, kafka_producer, metrics, lock_name=unique_name("relay"))
    async with running(relay.run):
        await add_in_one_transaction(db, outbox, topic, committed_first)
        await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, what="first rows sent")
        with pytest.raises(Abandon):
            await write_then_abandon()
        await add_in_one_transaction(db, outbox, topic, committed_last)
        await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, what="last rows sent")
        records = await read_topic(kafka_bootstrap, topic, expect=len(committed_first) + len(committed_last))

    assert [parse_event(r.value).id for r in records] == [e.id for e in [*committed_first, *committed_last]]
    assert await db.outbox_rows() == []  # the rolled-back rows never reached the table


async def test_two_relays_running_at_once_publish_each_row_exactly_once_in_order_per_key(
    db: KitDatabase,
    database_url: str,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
) -> None:
    topic = await make_topic("outbox-two-relays")
    lock_name = unique_name("relay")
    keys = [f"lead-{i}" for i in range(5)]
    events = [engagement(keys[n % len(keys)], n) for n in range(200)]
    metrics_a, metrics_b = new_kit_metrics(), new_kit_metrics()

    # two replicas of one service: one database, an engine, an outbox and a relay each
    async with kit_database(database_url, create=False) as replica_b:
        outbox_a, outbox_b = Outbox(db.schema.outbox), Outbox(replica_b.schema.outbox)
        relay_a = build_relay(db, outbox_a, kafka_producer, metrics_a, lock_name=lock_name, batch_size=7)
        relay_b = build_relay(replica_b, outbox_b, kafka_producer, metrics_b, lock_name=lock_name, batch_size=7)
        async with running(relay_a.run), running(relay_b.run):
            for start in range(0, len(events), 10):  # both replicas write, while both relays publish
                writer = (db, outbox_a) if start % 20 == 0 else (replica_b, outbox_b)
                await add_in_one_transaction(*writer, topic, events[start : start + 10])
                await asyncio.sleep(0.005)
            await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, timeout=30, what="every row sent")
            records = await read_topic(kafka_bootstrap, topic, expect=len(events), settle=1.0)

    published = Counter(parse_event(r.value).id for r in records)
    assert {event_id: n for event_id, n in published.items() if n != 1} == {}
    assert set(published) == {e.id for e in events}
    assert ids_by_key(records) == expected_by_key(events)
    assert (
        counter_value(metrics_a.outbox_published, topic=topic) + counter_value(metrics_b.outbox_published, topic=topic)
    ) == len(events)


async def test_relay_that_stops_hands_over_to_the_other_replica_without_gaps_or_repeats(
    db: KitDatabase,
    database_url: str,
    kafka_bootstrap: str,
    kafka_producer: AIOKafkaProducer,
    make_topic: MakeTopic,
) -> None:
    topic = await make_topic("outbox-handover")
    lock_name = unique_name("relay")
    keys = ["lead-a", "lead-b", "lead-c"]
    before = [engagement(keys[n % 3], n) for n in range(30)]
    after = [engagement(keys[n % 3], n) for n in range(100, 130)]
    metrics_a, metrics_b = new_kit_metrics(), new_kit_metrics()

    async with kit_database(database_url, create=False) as replica_b:
        outbox_a, outbox_b = Outbox(db.schema.outbox), Outbox(replica_b.schema.outbox)
        relay_a = build_relay(db, outbox_a, kafka_producer, metrics_a, lock_name=lock_name)
        relay_b = build_relay(replica_b, outbox_b, kafka_producer, metrics_b, lock_name=lock_name)
        stop_a = asyncio.Event()
        task_a = asyncio.create_task(relay_a.run(stop_a))
        try:
            await add_in_one_transaction(db, outbox_a, topic, before)
            await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, what="rows before the stop sent")
            async with running(relay_b.run):
                stop_a.set()  # replica A shuts down gracefully while B runs
                await asyncio.wait_for(task_a, 15)
                await add_in_one_transaction(replica_b, outbox_b, topic, after)
                await eventually(lambda: unsent_rows(db), until=lambda n: n == 0, what="rows after the stop sent")
                records = await read_topic(kafka_bootstrap, topic, expect=len(before) + len(after))
        finally:
            stop_a.set()
            await asyncio.wait_for(task_a, 15)

    assert Counter(parse_event(r.value).id for r in records) == Counter(e.id for e in [*before, *after])
    assert ids_by_key(records) == expected_by_key([*before, *after])
    assert counter_value(metrics_b.outbox_published, topic=topic) >= len(after)  # B took over
