"""Kafka helpers for tests: unique topic names, producing records, reading a topic back, committed offsets.

Works against the embedded Tansu broker and real Kafka alike. Tansu's `ListOffsets(latest)` is wrong
(see shared/reference/kafka-broker.md), so nothing here asks for end offsets: `read_topic` reads
until it has what it expects and then waits a short quiet period, which is also how it catches
duplicates and records that should not be there.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import RecordMetadata

from baton_contracts import CloudEvent
from baton_kit.consumer import ConsumerConfig

DEFAULT_PARTITIONS = 3

# Tansu only hands a group's partitions to a new member once the previous member's session has
# expired, even after a graceful LeaveGroup. A 1 s session keeps restart tests at about a second;
# heartbeats every 100 ms keep a healthy member well inside it.
FAST_SESSION_TIMEOUT_MS = 1_000
FAST_HEARTBEAT_INTERVAL_MS = 100


class MakeTopic(Protocol):
    """The `make_topic` fixture: `await make_topic("stem")` → a new topic (and its `.dlq`), created."""

    def __call__(self, stem: str = ..., *, partitions: int = ..., with_dlq: bool = ...) -> Awaitable[str]: ...


def unique_name(stem: str) -> str:
    """A topic or group name no other test (or earlier run against the same broker) uses."""
    return f"test.{stem}.{uuid.uuid4().hex[:12]}"


def fast_consumer_config(
    *, bootstrap_servers: str, group_id: str, topics: Sequence[str], max_retries: int = 3, max_batch: int = 500
) -> ConsumerConfig:
    """A `ConsumerConfig` tuned for tests: short session (fast takeover), short backoff."""
    return ConsumerConfig(
        bootstrap_servers=bootstrap_servers,
        group_id=group_id,
        topics=list(topics),
        max_batch=max_batch,
        max_retries=max_retries,
        session_timeout_ms=FAST_SESSION_TIMEOUT_MS,
        heartbeat_interval_ms=FAST_HEARTBEAT_INTERVAL_MS,
        max_backoff_seconds=0.5,
    )


@dataclass(frozen=True)
class Record:
    """A consumed record, with headers as a dict (Baton never repeats a header name)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes]

    def header(self, name: str) -> str:
        return self.headers[name].decode()


async def produce(
    producer: AIOKafkaProducer, topic: str, records: Iterable[tuple[bytes | None, bytes | None]]
) -> list[RecordMetadata]:
    """Send `(key, value)` pairs in order with acks; returns where each landed.

    Sent back to back and then awaited together, not one round trip each (7,200 records took most of a
    crash test's minute that way): the producer keeps one request in flight per partition, so each
    partition still receives them in the order given."""
    deliveries = [await producer.send(topic, value=value, key=key) for key, value in records]
    return list(await asyncio.gather(*deliveries))


async def produce_events(
    producer: AIOKafkaProducer, topic: str, events: Iterable[CloudEvent[Any]]
) -> list[RecordMetadata]:
    """Send events as services do: value = the envelope's JSON, key = its subject (the lead id)."""
    return await produce(producer, topic, ((e.subject.encode(), e.model_dump_json().encode()) for e in events))


def next_offsets(sent: Iterable[RecordMetadata]) -> dict[int, int]:
    """Partition → the offset after the last record sent there: what a consumer that applied them commits."""
    result: dict[int, int] = {}
    for meta in sent:
        result[meta.partition] = max(result.get(meta.partition, 0), meta.offset + 1)
    return result


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    expect: int,
    timeout: float = 15.0,
    settle: float = 0.5,
) -> list[Record]:
    """Every record of `topic` from the beginning (no consumer group), in per-partition order.

    Reads until at least `expect` records arrived, then keeps reading for `settle` seconds so
    that records beyond `expect` (duplicates, records that should never have been published)
    are returned too. Fails if fewer than `expect` arrive within `timeout`.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if settle_until is None and len(records) >= expect:
                settle_until = now + settle
            if settle_until is not None and now >= settle_until:
                break
            if settle_until is None and now >= deadline:
                raise AssertionError(f"read {len(records)} of {expect} expected records from {topic} in {timeout:.0f}s")
            batches = await consumer.getmany(timeout_ms=100)
            for batch in batches.values():
                records.extend(
                    Record(
                        topic=r.topic,
                        partition=r.partition,
                        offset=r.offset,
                        key=r.key,
                        value=r.value,
                        headers={name: value for name, value in r.headers},
                    )
                    for r in batch
                )
    finally:
        await consumer.stop()
    return records


async def committed_offsets(
    bootstrap_servers: str, *, group_id: str, topic: str, partitions: int = DEFAULT_PARTITIONS
) -> dict[int, int]:
    """Partition → the offset `group_id` last committed for `topic`; partitions never committed are left out.

    Asks the group coordinator without joining the group, so it does not disturb a running member.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, group_id=group_id, enable_auto_commit=False)
    await consumer.start()
    try:
        committed = {p: await consumer.committed(TopicPartition(topic, p)) for p in range(partitions)}
        return {p: offset for p, offset in committed.items() if offset is not None}
    finally:
        await consumer.stop()
