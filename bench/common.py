"""Helpers the benchmarks share: PostgreSQL databases made and dropped per run, the broker round trip
(the latency baseline), a tail of `lead.lifecycle`, percentiles."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from baton_contracts.topics import Topic
from baton_kit.broker import ensure_topics

FETCH_MAX_WAIT_MS = 50  # the services' default (KAFKA_FETCH_MAX_WAIT_MS), so the baseline is comparable
ADMIN_KEY = "bk_bench-admin_" + "b" * 32  # POST /v1/webhooks/generic needs a key with the `ingest` scope
PG_ADMIN = os.environ.get("BATON_BENCH_POSTGRES") or os.environ.get(
    "BATON_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
).replace("+asyncpg", "")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far, all its threads (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def peak_rss_mb(pid: int) -> float:
    """A running process's peak resident memory (`VmHWM`), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds_by_pid(command: str) -> dict[int, float]:
    """`cpu_seconds` of every process whose command name is `command` (e.g. a database server's processes)."""
    found: dict[int, float] = {}
    for comm in Path("/proc").glob("[0-9]*/comm"):
        try:
            if comm.read_text().strip() == command:
                found[int(comm.parent.name)] = cpu_seconds(int(comm.parent.name))
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
    return found


def cpu_seconds_since(before: dict[int, float], now: dict[int, float]) -> float:
    """CPU used between two `cpu_seconds_by_pid` readings, a process new since `before` counted in full."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in now.items())


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def create_pg_database(name: str) -> str:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    return PG_ADMIN.replace("postgresql://", "postgresql+asyncpg://").rsplit("/", 1)[0] + f"/{name}"


async def drop_pg_database(name: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


async def broker_round_trip(bootstrap: str, samples: int = 300) -> list[float]:
    """Baseline: produce one record (acks=all) and time until a consumer in another group sees it."""
    topic = f"bench.rtt.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic], partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=topic,
        auto_offset_reset="earliest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=600,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await producer.start()
    await consumer.start()
    await consumer.getmany(timeout_ms=100)
    latencies = []
    try:
        for _ in range(samples):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"x")
            while not (await consumer.getmany(timeout_ms=1000)):
                pass
            latencies.append((time.perf_counter() - sent) * 1000)
    finally:
        await consumer.stop()
        await producer.stop()
    return latencies


async def lifecycle_tail(bootstrap: str) -> AIOKafkaConsumer:
    """A started consumer of `lead.lifecycle` in a group of its own, positioned at the end."""
    consumer = AIOKafkaConsumer(
        Topic.LEAD_LIFECYCLE,
        bootstrap_servers=bootstrap,
        group_id=f"bench-{uuid.uuid4()}",
        auto_offset_reset="latest",
        session_timeout_ms=6000,
        heartbeat_interval_ms=600,
        fetch_max_wait_ms=FETCH_MAX_WAIT_MS,
    )
    await consumer.start()
    while not consumer.assignment():
        await consumer.getmany(timeout_ms=100)
    await consumer.seek_to_end()
    return consumer
