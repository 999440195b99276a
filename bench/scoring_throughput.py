"""Scoring throughput, every figure measured in the same run on one broker (3 partitions):

- raw limit: an aiokafka consume + batched produce loop, no processing;
- the real scoring service as a process (consume → score → database → outbox → publish), SQLite and PostgreSQL;
- the same job in Quix Streams with RocksDB state and with in-memory state, and in Bytewax (in-memory);
  these run in `.bench/venv` (created on first use), since their pins conflict with the services'.

    python bench/scoring_throughput.py                 # short form: 20,000 events over 2,000 leads
    python bench/scoring_throughput.py --full          # the issue's size: 100,000 events over 10,000 leads
    python bench/scoring_throughput.py --only raw,sqlite
    python bench/scoring_throughput.py --only raw,sqlite,sqlite-x2   # also two service processes in one group
    python bench/scoring_throughput.py --full --repeat 3              # three rounds, rotated; medians

Rates are records per second from the first record consumed to the last output published. Prints
JSON: each contender's rate, its ratio to the raw limit and to Quix Streams + RocksDB, memory, and the
CPU time it spent per event (every thread of its processes; the embedded broker's separately). With
the machine's cores that gives the budget a target sets: at half the raw rate, all of a contender's
CPU and the broker's must fit in `cores / (raw / 2)` per event (`cpu_us_per_event_at_half_raw`).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from common import (
    cpu_seconds,
    cpu_seconds_by_pid,
    cpu_seconds_since,
    create_pg_database,
    drop_pg_database,
    peak_rss_mb,
)

from baton_contracts import Topic, new_event
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_contracts.topics import ALL_TOPICS
from baton_kit.broker import EmbeddedBroker, ensure_topics
from baton_kit.processes import ServiceProcess
from baton_kit.producer import create_producer
from baton_scoring.settings import ScoringSettings

ROOT = Path(__file__).resolve().parent.parent
PEER_VENV = ROOT / ".bench" / "venv"
PARTITIONS = 3
ACTIVITIES = [
    ("page_view", 50, {"url": "/product/lineage"}),
    ("page_view", 6, {"url": "/pricing"}),
    ("email_click", 12, {"campaign": "nurture-02"}),
    ("pricing_page_view", 5, {"url": "/pricing"}),
    ("content_download", 8, {"asset": "data-downtime-report"}),
    ("webinar_attended", 3, {"webinar": "schema drift"}),
    ("form_submit", 4, {"form": "gated-content"}),
    ("demo_request", 2, {"form": "demo"}),
    ("unsubscribe", 1, {}),
    ("podcast_listen", 1, {}),
]


def sample(events: int, leads: int) -> list[bytes]:
    """`events` CloudEvents over `leads` leads: each lead's first event is its profile, then engagement."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    weights = [w for _, w, _ in ACTIVITIES]
    out: list[bytes] = []
    for n in range(events):
        lead = n % leads
        lead_id = f"bench-{lead:06d}"
        at = now - timedelta(minutes=rng.randint(0, 30 * 24 * 60))
        if n < leads:
            data: Any = ProfileUpdated(
                lead_id=lead_id,
                occurred_at=at,
                source="bench",
                email=f"p{lead}@co{lead % 900}.example",
                title=rng.choice(["VP of Data", "Data Engineer", "Recruiter"]),
                employees=rng.choice([40, 300, 1200, 20000]),
                country=rng.choice(["US", "DE", "IN"]),
                industry="Computer Software",
            )
            kind = EventType.PROFILE_UPDATED
        else:
            activity, _, properties = rng.choices(ACTIVITIES, weights=weights)[0]
            data = EngagementRecorded(
                lead_id=lead_id,
                activity=activity,
                occurred_at=at,
                source="bench",
                external_id=f"x-{n}",
                properties=properties,
            )
            kind = EventType.ENGAGEMENT_RECORDED
        out.append(
            new_event(event_type=kind, source="/bench", subject=lead_id, data=data, time=now).model_dump_json().encode()
        )
    return out


async def produce_all(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = create_producer(bootstrap_servers=bootstrap, client_id="bench")
    await producer.start()
    try:
        pending = []
        for value in values:
            key = json.loads(value)["subject"].encode()
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 2000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def raw_limit(bootstrap: str, topic: str, expect: int) -> dict[str, Any]:
    """Consume everything and produce each record to another topic in batches: no processing, no database."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"bench-raw-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=500,
        # The services' setting (`KAFKA_FETCH_MAX_WAIT_MS`). With aiokafka's 500 ms, a fetch the broker
        # answers empty stalls the loop; measured here: 48,000-82,000 records/s over five passes, against
        # a CPU cost per record that stayed within 10%.
        fetch_max_wait_ms=ScoringSettings.model_fields["kafka_fetch_max_wait_ms"].default,
    )
    producer = create_producer(bootstrap_servers=bootstrap, client_id="bench-raw")
    await consumer.start()
    await producer.start()
    count, first, first_cpu = 0, None, 0.0
    try:
        while count < expect:
            batches = await consumer.getmany(timeout_ms=200, max_records=500)
            for tp, records in batches.items():
                if first is None:
                    first, first_cpu = time.perf_counter(), time.process_time()
                deliveries = [await producer.send("bench.raw.out", value=r.value, key=r.key) for r in records]
                await asyncio.gather(*deliveries)
                await consumer.commit({tp: records[-1].offset + 1})
                count += len(records)
        seconds = time.perf_counter() - (first or time.perf_counter())
        cpu = time.process_time() - first_cpu
    finally:
        await consumer.stop()
        await producer.stop()
    return {"contender": "raw", "records": count, "seconds": seconds, "cpu_us_per_event": _per_event(cpu, count)}


def metric(text: str, name: str) -> float:
    return sum(float(v) for v in re.findall(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.MULTILINE))


async def service(
    bootstrap: str, expect: int, leads: int, *, database_url: str, name: str, instances: int = 1
) -> dict[str, Any]:
    """The scoring service as `instances` processes in one consumer group on one database; done when
    every record is applied and every emitted score is published."""
    env = {
        "DATABASE_URL": database_url,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "CONSUMER_GROUP": f"bench-{name}-{uuid.uuid4().hex[:6]}",
        "LOG_LEVEL": "WARNING",
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
    }
    log = Path(tempfile.mkdtemp(prefix=f"bench-scoring-{name}-")) / "scoring.log"  # every instance's, in turn
    processes = [ServiceProcess("baton_scoring", env=env, log_path=log).start() for _ in range(instances)]
    first = last = None
    texts = [""] * instances
    cpu_from: tuple[list[float], float] | None = None  # each process's CPU, and records applied, when first seen
    postgres = "postgresql" in database_url
    database_cpu: dict[int, float] = {}
    try:
        async with httpx.AsyncClient(timeout=5) as client:
            while True:
                for process in processes:
                    if not process.running:
                        raise RuntimeError(f"scoring exited {process.returncode}; see {log}")
                try:
                    texts = [(await client.get(f"{process.url}/metrics")).text for process in processes]
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
                    continue
                applied = _total(texts, "baton_scoring_records_applied_total")
                now = time.perf_counter()
                if cpu_from is None:  # ready: from here on its CPU is the records' (start-up is left out)
                    cpu_from = [cpu_seconds(_pid(process)) for process in processes], applied
                    database_cpu = cpu_seconds_by_pid("postgres") if postgres else {}
                if applied and first is None:
                    # The first batch committed within the last poll (50 ms); it started consuming
                    # that batch's duration earlier (decode, prepare, transaction: `batch_seconds`).
                    first = now - max(metric(text, "baton_scoring_batch_seconds_sum") for text in texts)
                published = _total(texts, "baton_scoring_outbox_published_total")
                emitted = _total(texts, "baton_scoring_scores_emitted_total")
                if applied >= expect and published >= emitted:
                    last = now
                    break
                # Fine-grained until the first batch lands; then every 0.2 s (±1% of a 20-s run), so that
                # rendering /metrics does not take a noticeable share of the service's one core.
                await asyncio.sleep(0.05 if first is None else 0.2)
        rss_mb = sum(peak_rss_mb(_pid(process)) for process in processes)
        cpu_start, applied_then = cpu_from or ([0.0] * instances, 0.0)
        cpu = sum(cpu_seconds(_pid(process)) - start for process, start in zip(processes, cpu_start, strict=True))
        database = cpu_seconds_since(database_cpu, cpu_seconds_by_pid("postgres")) if postgres else None
    finally:
        for process in processes:
            process.signal_stop()
        for process in processes:
            process.terminate(timeout=30)
    return {
        "contender": f"service-{name}" + (f"-x{instances}" if instances > 1 else ""),
        "instances": instances,
        "records": expect,
        "seconds": (last or 0) - (first or 0),
        "peak_rss_mb": rss_mb,
        "cpu_us_per_event": _per_event(cpu, expect - applied_then),
        # PostgreSQL's server processes (backends, WAL writer, checkpointer), which share the machine's cores
        "database_cpu_us_per_event": _per_event(database, expect - applied_then),
        "lead_scored_emitted": emitted,
        "transactions": _total(texts, "baton_scoring_batch_seconds_count"),
        "lead_memory_misses": _total(texts, "baton_scoring_lead_memory_misses_total"),
        "consumer_idle_seconds": _total(texts, "baton_scoring_consumer_idle_seconds_total"),
        "log": str(log),
    }


def _total(texts: list[str], name: str) -> float:
    return sum(metric(text, name) for text in texts)


def _per_event(cpu: float | None, records: float) -> float | None:
    return round(cpu / records * 1e6, 1) if cpu is not None and records else None


def _pid(process: ServiceProcess) -> int:
    assert process.pid is not None, "started"
    return process.pid


def ensure_peer_venv() -> Path:
    """`.bench/venv` with the root pyproject's `bench` group (Quix Streams, Bytewax), made on first use."""
    python = PEER_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "pip>=25.1"], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "--group", "bench"], check=True, cwd=ROOT)
    return python


def peer(contender: str, bootstrap: str, topic: str, expect: int) -> dict[str, Any]:
    python = ensure_peer_venv()
    out = subprocess.run(
        [
            str(python),
            str(ROOT / "bench" / "scoring_peers.py"),
            contender,
            bootstrap,
            topic,
            str(expect),
            f"bench.{contender}.out",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if out.returncode != 0 or not lines:
        return {"contender": contender, "error": (out.stderr or out.stdout)[-800:]}
    return dict(json.loads(lines[-1]))


async def postgres_url() -> tuple[str, str] | None:
    """A new PostgreSQL database (URL, name), or None when the server does not answer."""
    name = f"baton_bench_{uuid.uuid4().hex[:8]}"
    try:
        return await create_pg_database(name), name
    except OSError:
        return None


CONTENDERS = (
    "raw",
    "sqlite",
    "sqlite-x2",
    "postgresql",
    "postgresql-x2",
    "quix-rocksdb",
    "quix-memory",
    "bytewax",
)


async def run(events: int, leads: int, only: set[str], *, repeat: int = 1) -> dict[str, Any]:
    """Every contender in `only`, `repeat` times over one input, each round starting one contender
    later than the last (so no contender always runs first or right after another); per contender
    the median rate is reported, with every round's, and the median of its per-round ratios to raw and
    to Quix Streams + RocksDB (`paired_ratio_to_*`)."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    broker = None
    if external:
        bootstrap = external
    else:
        broker = EmbeddedBroker(log_path=Path(tempfile.mkdtemp()) / "tansu.log")
        broker.start()
        bootstrap = broker.bootstrap_servers
    runs: dict[str, list[dict[str, Any]]] = {}
    try:
        topics = [*ALL_TOPICS, "bench.raw.out", *(f"bench.{p}.out" for p in ("quix-rocksdb", "quix-memory", "bytewax"))]
        await ensure_topics(bootstrap, topics, partitions=PARTITIONS)
        await produce_all(bootstrap, Topic.LEAD_ENGAGEMENT, sample(events, leads))
        chosen = [contender for contender in CONTENDERS if contender in only]
        broker_pid = broker.pid if broker else None  # an external broker's CPU is not ours to read
        for round_ in range(repeat):
            start = round_ % len(chosen)
            for contender in chosen[start:] + chosen[:start]:
                broker_cpu = cpu_seconds(broker_pid) if broker_pid else 0.0
                result = await run_one(contender, bootstrap, events, leads)
                if broker_pid:
                    result["broker_cpu_us_per_event"] = _per_event(cpu_seconds(broker_pid) - broker_cpu, events)
                if result.get("seconds"):
                    result["events_per_second"] = round(result["records"] / result["seconds"], 1)
                runs.setdefault(result["contender"], []).append(result)
    finally:
        if broker is not None:
            broker.stop()
    results = [_median(rounds) for rounds in runs.values()]
    if repeat > 1:
        for result, rounds in zip(results, runs.values(), strict=True):
            for baseline in ("raw", "quix-rocksdb"):
                _paired(result, rounds, runs.get(baseline), baseline)
    return summarise(results, events=events, leads=leads)


async def run_one(contender: str, bootstrap: str, events: int, leads: int) -> dict[str, Any]:
    if contender == "raw":
        return await raw_limit(bootstrap, Topic.LEAD_ENGAGEMENT, events)
    if contender in ("quix-rocksdb", "quix-memory", "bytewax"):
        return peer(contender, bootstrap, Topic.LEAD_ENGAGEMENT, events)
    name, _, scale = contender.partition("-x")
    instances = int(scale or 1)
    if name == "sqlite":
        path = Path(tempfile.mkdtemp(prefix="bench-scoring-")) / "s.db"
        result = await service(
            bootstrap, events, leads, database_url=f"sqlite+aiosqlite:///{path}", name=name, instances=instances
        )
        result["database_mb_per_100k_leads"] = _size_mb(path) * 100_000 / leads
        return result
    created = await postgres_url()
    if created is None:
        return {"contender": f"service-{contender}", "error": "PostgreSQL unreachable"}
    url, database = created
    try:
        return await service(bootstrap, events, leads, database_url=url, name=name, instances=instances)
    finally:
        await drop_pg_database(database)


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median rate (the lower middle one of an even count), with every round's rate."""
    ranked = sorted(rounds, key=lambda r: r.get("events_per_second") or 0.0)
    chosen = dict(ranked[(len(ranked) - 1) // 2])
    if len(rounds) > 1:
        chosen["rounds_events_per_second"] = [r.get("events_per_second") for r in rounds]
    return chosen


def _paired(
    result: dict[str, Any], rounds: list[dict[str, Any]], baseline: list[dict[str, Any]] | None, name: str
) -> None:
    """Each round's rate over `name`'s rate in the same round, and their median: the machine's speed
    drifts over minutes (by 10 to 25% here), and a round's contenders run within a few minutes of each other."""
    if not baseline:
        return
    ratios = sorted(
        round(mine / theirs, 3)
        for mine, theirs in zip(
            (r.get("events_per_second") for r in rounds), (b.get("events_per_second") for b in baseline), strict=True
        )
        if mine and theirs
    )
    if ratios:
        key = name.replace("-", "_")
        result[f"rounds_ratio_to_{key}"] = ratios
        result[f"paired_ratio_to_{key}"] = ratios[(len(ratios) - 1) // 2]


def _size_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def summarise(results: list[dict[str, Any]], *, events: int, leads: int) -> dict[str, Any]:
    rate = {r["contender"]: r.get("events_per_second") for r in results}
    raw, quix = rate.get("raw"), rate.get("quix-rocksdb")
    for result in results:
        mine = result.get("events_per_second")
        if mine and raw:
            result["ratio_to_raw"] = round(mine / raw, 3)
        if mine and quix:
            result["ratio_to_quix_rocksdb"] = round(mine / quix, 3)
        if "peak_rss_mb" in result:
            result["peak_rss_mb"] = round(result["peak_rss_mb"], 1)
    summary: dict[str, Any] = {"events": events, "leads": leads, "partitions": PARTITIONS, "cores": os.cpu_count()}
    if raw:
        summary["cpu_us_per_event_at_half_raw"] = round((os.cpu_count() or 1) * 1e6 / (raw / 2), 1)
    return {**summary, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="100,000 events over 10,000 leads")
    parser.add_argument("--events", type=int)
    parser.add_argument("--leads", type=int)
    parser.add_argument("--only", default="raw,sqlite,postgresql,quix-rocksdb,quix-memory,bytewax")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (rotated order); each contender's median")
    args = parser.parse_args()
    events = args.events or (100_000 if args.full else 20_000)
    leads = args.leads or (10_000 if args.full else 2_000)
    only = set(args.only.split(","))
    print(json.dumps(asyncio.run(run(events, leads, only, repeat=args.repeat)), indent=2))


if __name__ == "__main__":
    main()
