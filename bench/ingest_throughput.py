"""Webhook ingest throughput: requests/s and p50/p99 latency at concurrency 64, as ratios to a bare
FastAPI endpoint returning a constant, measured in the same run with the same client.

Both servers are uvicorn processes on loopback: the baseline (this file with `--serve-baseline`:
one `POST` route, no body parsing, no database) and the real handoff service (embedded broker unless
KAFKA_BOOTSTRAP_SERVERS is set; SQLite or PostgreSQL). Each 202 from handoff means the events are
committed to its outbox, so the figure includes the database commit of every request.

Scenarios: `generic` (one event per call, the generic JSON format), `hubspot` (one signed HubSpot
event per call: HMAC verified on the raw body, mapping table, dedupe), `generic-batch` (50 events
per call, reported as events/s too). Every event id is unique: nothing is a duplicate.

    python bench/ingest_throughput.py [--seconds 10] [--concurrency 64] [--db postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from common import ADMIN_KEY, create_pg_database, drop_pg_database, percentile

HUBSPOT_SECRET = "bench-hubspot-client-secret"
Request = tuple[str, bytes, dict[str, str]]


def serve_baseline(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI, status

    app = FastAPI()
    accepted = {"accepted": 1, "duplicates": 0, "ignored": 0, "lead_ids": ["bench"]}

    @app.post("/v1/webhooks/{kind}", status_code=status.HTTP_202_ACCEPTED)
    async def constant(kind: str) -> dict[str, Any]:
        return accepted

    @app.get("/readyz")
    async def ready() -> dict[str, str]:
        return {"status": "ready"}

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def create_database(dialect: str, workdir: Path) -> str:
    if dialect == "sqlite":
        return f"sqlite+aiosqlite:///{workdir}/handoff.db"
    return asyncio.run(create_pg_database(f"baton_bench_ingest_{uuid.uuid4().hex[:6]}"))


def drop_database(url: str) -> None:
    if url.startswith("postgresql"):
        asyncio.run(drop_pg_database(url.rsplit("/", 1)[1]))


def generic_request(batch: int) -> Callable[[int], Request]:
    run = uuid.uuid4().hex[:8]

    def make(n: int) -> Request:
        events = [
            {
                "external_id": f"bench-{run}-{n}-{i}",
                "email": f"lead{n % 5000}@bench-{n % 300}.example",
                "activity": "page_view" if i % 10 else "pricing_page_view",
                "occurred_at": datetime.now(UTC).isoformat(),
                "properties": {"url": "/pricing"},
            }
            for i in range(batch)
        ]
        body = json.dumps({"source": "bench", "events": events}).encode()
        return (
            "/v1/webhooks/generic",
            body,
            {"content-type": "application/json", "Authorization": f"Bearer {ADMIN_KEY}"},
        )

    return make


def hubspot_request(base_url: str) -> Callable[[int], Request]:
    from baton_handoff.webhooks.signatures import hubspot_v3_signature

    run = int(time.time())

    def make(n: int) -> Request:
        now_ms = int(time.time() * 1000)
        body = json.dumps(
            [
                {
                    "eventId": run * 10_000_000 + n,
                    "subscriptionId": 2381921,
                    "portalId": 62515,
                    "appId": 1160452,
                    "occurredAt": now_ms,
                    "subscriptionType": "contact.propertyChange",
                    "attemptNumber": 0,
                    "objectId": 10_000 + n % 5000,
                    "propertyName": "recent_conversion_event_name",
                    "propertyValue": "Demo request",
                    "changeSource": "FORM",
                }
            ]
        ).encode()
        path = "/v1/webhooks/hubspot"
        timestamp = str(now_ms)
        signature = hubspot_v3_signature(
            secret=HUBSPOT_SECRET, method="POST", uri=base_url + path, body=body, timestamp=timestamp
        )
        return (
            path,
            body,
            {
                "content-type": "application/json",
                "X-HubSpot-Signature-v3": signature,
                "X-HubSpot-Request-Timestamp": timestamp,
            },
        )

    return make


async def load(
    url: str, make: Callable[[int], Request], *, seconds: float, concurrency: int, warmup: float = 1.0
) -> dict[str, float]:
    """`concurrency` keep-alive connections send back to back for `seconds` (after `warmup`).

    A minimal HTTP/1.1 client on asyncio streams: a general-purpose Python client (httpx) costs more
    CPU per request than the bare endpoint and would measure itself. Every answer must be 202.
    """
    host, port = url.removeprefix("http://").split(":")
    latencies: list[float] = []
    counter = iter(range(10**9))
    failures: dict[int, int] = {}
    start = time.perf_counter()
    measure_from, stop_at = start + warmup, start + warmup + seconds

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (now := time.perf_counter()) < stop_at:
                path, body, headers = make(next(counter))
                head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
                head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
                sent = time.perf_counter()
                writer.write(head.encode() + body)
                await writer.drain()
                status = int((await reader.readline()).split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                took = time.perf_counter() - sent
                if status != 202:
                    failures[status] = failures.get(status, 0) + 1
                elif now >= measure_from:
                    latencies.append(took * 1000)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if failures:
        raise SystemExit(f"{url}: non-202 answers {failures}")
    return {
        "requests_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "requests": len(latencies),
    }


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{url} exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} not ready after {timeout}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--serve-baseline", type=int, metavar="PORT", help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--batch", type=int, default=50, help="events per call in generic-batch")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if args.serve_baseline:
        serve_baseline(args.serve_baseline)
        return

    from baton_contracts.topics import ALL_TOPICS
    from baton_kit.broker import EmbeddedBroker, create_topics, free_port

    workdir = Path(tempfile.mkdtemp(prefix="baton-bench-ingest-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "broker.log")
        bootstrap = broker.start()
    create_topics(bootstrap, ALL_TOPICS)
    database = create_database(args.db, workdir)
    base_port, handoff_port = free_port(), free_port()
    base_url, handoff_url = f"http://127.0.0.1:{base_port}", f"http://127.0.0.1:{handoff_port}"
    env = {
        **os.environ,
        "DATABASE_URL": database,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "HTTP_HOST": "127.0.0.1",
        "HTTP_PORT": str(handoff_port),
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_SECRETS": json.dumps({"hubspot": [HUBSPOT_SECRET]}),
        "ADMIN_API_KEY": ADMIN_KEY,
        "WEBHOOK_RATE_PER_SECOND": "1000000",
        "WEBHOOK_RATE_BURST": "1000000",
    }
    with (workdir / "baseline.log").open("ab") as base_log, (workdir / "handoff.log").open("ab") as handoff_log:
        baseline = subprocess.Popen(
            [sys.executable, __file__, "--serve-baseline", str(base_port)], stdout=base_log, stderr=subprocess.STDOUT
        )
        handoff = subprocess.Popen(
            [sys.executable, "-m", "baton_handoff"], env=env, stdout=handoff_log, stderr=subprocess.STDOUT
        )
    figures: dict[str, Any] = {"db": args.db, "concurrency": args.concurrency, "seconds": args.seconds}
    try:
        wait_ready(base_url, baseline)
        wait_ready(handoff_url, handoff)
        run = {"seconds": args.seconds, "concurrency": args.concurrency}
        bare = asyncio.run(load(base_url, generic_request(1), **run))
        figures["bare_constant"] = bare
        scenarios = {
            "generic": generic_request(1),
            "hubspot": hubspot_request(handoff_url),
            "generic-batch": generic_request(args.batch),
        }
        for name, make in scenarios.items():
            result = asyncio.run(load(handoff_url, make, **run))
            result["throughput_ratio_to_bare"] = round(result["requests_per_s"] / bare["requests_per_s"], 3)
            result["p50_ratio_to_bare"] = round(result["p50_ms"] / bare["p50_ms"], 1)
            result["p99_ratio_to_bare"] = round(result["p99_ms"] / bare["p99_ms"], 1)
            if name == "generic-batch":
                result["events_per_s"] = round(result["requests_per_s"] * args.batch, 1)
            figures[name] = result
    finally:
        for process in (handoff, baseline):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_database(database)
        if broker:
            broker.stop()
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
