"""Helpers shared by the latency benchmarks (broker round trip, PostgreSQL databases, percentiles), and the
foundation's first end-to-end measure. Its leads carry no profile, so under the ICP fit rules they no longer
qualify: use `speed_to_lead.py` (same path, ICP-fit leads) for the figure.

End-to-end latency: webhook accepted (202) → `lead.lifecycle` assigned event published.

Runs the real stack (embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set, scoring and handoff as
processes, SQLite or PostgreSQL), sends N leads that qualify at once (pricing page + demo request)
at a steady rate, and reads the assigned events' broker timestamps. The baseline, measured in the
same run on the same broker: one produce → consume round trip of a bare record.

    python bench/e2e_latency.py --leads 1000 --rate 100 [--db postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from baton_contracts import parse_event
from baton_contracts.events import LeadState
from baton_contracts.topics import ALL_TOPICS, Topic
from baton_kit.broker import EmbeddedBroker, create_topics, ensure_topics, free_port
from baton_kit.processes import ServiceProcess

FETCH_MAX_WAIT_MS = 50  # the services' default (KAFKA_FETCH_MAX_WAIT_MS), so the baseline is comparable
ADMIN_KEY = "bk_bench-admin_" + "b" * 32  # POST /v1/webhooks/generic needs a key with the `ingest` scope
PG_ADMIN = os.environ.get("BATON_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


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


async def measure(handoff_url: str, bootstrap: str, *, leads: int, rate: float) -> list[float]:
    consumer = await lifecycle_tail(bootstrap)
    accepted_at: dict[str, float] = {}
    assigned_at: dict[str, float] = {}

    async def collect() -> None:
        while len(assigned_at) < leads:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = parse_event(record.value)
                    if event.data.to_state == LeadState.ASSIGNED:
                        assigned_at.setdefault(event.subject, record.timestamp / 1000)

    collector = asyncio.create_task(collect())
    run = uuid.uuid4().hex[:6]
    auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with httpx.AsyncClient(base_url=handoff_url, timeout=30, headers=auth) as client:

        async def send(i: int) -> None:
            lead_id = f"bench-{run}-{i:05d}"
            now = datetime.now(UTC).isoformat()
            body = {
                "source": "bench",
                "events": [
                    {
                        "external_id": f"{lead_id}-p",
                        "lead_id": lead_id,
                        "activity": "pricing_page_view",
                        "occurred_at": now,
                    },
                    {"external_id": f"{lead_id}-d", "lead_id": lead_id, "activity": "demo_request", "occurred_at": now},
                ],
            }
            response = await client.post("/v1/webhooks/generic", json=body)
            response.raise_for_status()
            accepted_at[lead_id] = time.time()

        started = time.perf_counter()
        tasks = []
        for i in range(leads):
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
    await asyncio.wait_for(collector, timeout=120)
    await consumer.stop()
    return [(assigned_at[lead] - accepted_at[lead]) * 1000 for lead in accepted_at]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=100.0, help="leads per second")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="baton-bench-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "broker.log")
        bootstrap = broker.start()
    create_topics(bootstrap, ALL_TOPICS)
    databases: list[str] = []
    services: list[ServiceProcess] = []
    try:
        for name, module in (("scoring", "baton_scoring"), ("handoff", "baton_handoff")):
            if args.db == "postgresql":
                db_name = f"baton_bench_{name}_{uuid.uuid4().hex[:6]}"
                url = asyncio.run(create_pg_database(db_name))
                databases.append(db_name)
            else:
                url = f"sqlite+aiosqlite:///{workdir}/{name}.db"
            env = {
                "DATABASE_URL": url,
                "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
                "LOG_LEVEL": "WARNING",
                "ADMIN_API_KEY": ADMIN_KEY,
                "KAFKA_SESSION_TIMEOUT_MS": "6000",
            }
            services.append(
                ServiceProcess(
                    name=name, module=module, port=free_port(), env=env, log_path=workdir / f"{name}.log"
                ).start()
            )
        for service in services:
            service.wait_ready()
        baseline = asyncio.run(broker_round_trip(bootstrap))
        latencies = asyncio.run(measure(services[1].url, bootstrap, leads=args.leads, rate=args.rate))
    finally:
        for service in services:
            service.terminate()
        for db_name in databases:
            asyncio.run(drop_pg_database(db_name))
        if broker:
            broker.stop()
    figures = {
        "db": args.db,
        "leads": len(latencies),
        "rate_per_s": args.rate,
        "e2e_p50_ms": round(percentile(latencies, 50), 1),
        "e2e_p99_ms": round(percentile(latencies, 99), 1),
        "e2e_mean_ms": round(statistics.fmean(latencies), 1),
        "broker_rtt_p50_ms": round(percentile(baseline, 50), 2),
        "broker_rtt_p99_ms": round(percentile(baseline, 99), 2),
    }
    figures["p50_ratio_to_broker_rtt"] = round(figures["e2e_p50_ms"] / figures["broker_rtt_p50_ms"], 1)
    figures["p99_ratio_to_broker_rtt"] = round(figures["e2e_p99_ms"] / figures["broker_rtt_p99_ms"], 1)
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
