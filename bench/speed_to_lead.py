"""Speed to lead: a demo-request webhook sent → the lead's `assigned` lifecycle event published.

The real stack as processes (embedded broker unless KAFKA_BOOTSTRAP_SERVERS is set; scoring and
handoff; SQLite or PostgreSQL). Each lead is one demo-request event with a
profile that fits the ICP, so it is fast-tracked to MQL and routed at once (weighted round robin
over the example roster). Events are sent open-loop at a steady rate (default 500 events/s, in
generic-webhook calls of `--batch` events, default 10): a slow response does not slow the sender,
so queueing shows in the latency as it would in production.

Latency = broker timestamp of the `assigned` event minus the moment the webhook call was started.
Speed to CRM = the moment the handoff's signed assignment packet reached a stand-in CRM (an HTTP
server in this process) minus the same start: what the rep's CRM sees.
Baselines, measured in the same run on the same broker and machine:
  * broker round trip: produce (acks=all) → a consumer in another group sees it;
  * bare endpoint: the same open-loop sender against a FastAPI endpoint returning a constant.

    python bench/speed_to_lead.py [--leads 5000] [--rate 500] [--db postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import socket
import statistics
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
from common import (
    broker_round_trip,
    create_pg_database,
    drop_pg_database,
    lifecycle_tail,
    percentile,
)

from baton_contracts import parse_event
from baton_contracts.events import EventType, LeadState
from baton_contracts.topics import ALL_TOPICS
from baton_kit.broker import EmbeddedBroker, create_topics, free_port
from baton_kit.processes import ServiceProcess

ICP = {"company": "Initech", "title": "VP Data", "country": "US", "employees": 800, "industry": "Software"}
BARE_APP = """
from fastapi import FastAPI
app = FastAPI()

@app.post("/v1/webhooks/generic", status_code=202)
async def bare() -> dict[str, int]:
    return {"accepted": 1, "duplicates": 0}
"""


async def open_loop(
    url: str, *, calls: int, rate: float, key: str | None, body: Callable[[int], Any], connections: int = 64
) -> tuple[dict[str, float], list[float], int]:
    """Schedule `calls` POSTs at `rate`/s; `connections` keep-alive connections take them in order.

    Open loop: each call's clock starts at its scheduled time, so waiting for a free connection
    counts as latency. A minimal HTTP/1.1 client on asyncio streams (httpx would cost more CPU per
    request than the bare endpoint and measure itself). Returns start times, response latencies,
    non-202 answers.
    """
    host, port = url.removeprefix("http://").split(":")
    queue: asyncio.Queue[tuple[int, float] | None] = asyncio.Queue()
    started_at: dict[str, float] = {}
    latencies: list[float] = []
    errors = 0
    auth = f"Authorization: Bearer {key}\r\n" if key else ""

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while (item := await queue.get()) is not None:
                i, scheduled = item
                lead_ids, payload = body(i)
                raw = json.dumps(payload).encode()
                for lead_id in lead_ids:
                    started_at[lead_id] = time.time() - (time.perf_counter() - scheduled)
                head = (
                    f"POST /v1/webhooks/generic HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(raw)}"
                    f"\r\ncontent-type: application/json\r\n{auth}\r\n"
                )
                writer.write(head.encode() + raw)
                await writer.drain()
                status_line = await reader.readline()
                if not status_line:  # the server closed an idle keep-alive connection: reconnect, resend
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                    writer.write(head.encode() + raw)
                    await writer.drain()
                    status_line = await reader.readline()
                status = int(status_line.split()[1])
                length = 0
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                await reader.readexactly(length)
                latencies.append((time.perf_counter() - scheduled) * 1000)
                errors += status != 202
        finally:
            writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(connections)]
    begin = time.perf_counter()
    for i in range(calls):
        scheduled = begin + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        queue.put_nowait((i, scheduled))
    for _ in workers:
        queue.put_nowait(None)
    await asyncio.gather(*workers)
    return started_at, latencies, errors


def demo_requests(run: str, batch: int) -> Callable[[int], tuple[list[str], dict[str, object]]]:
    """Call `i` carries the demo requests of leads `i*batch … i*batch+batch-1` (one event each)."""

    def body(i: int) -> tuple[list[str], dict[str, object]]:
        lead_ids = [f"stl-{run}-{i * batch + j:06d}" for j in range(batch)]
        events = [
            {
                "external_id": f"{lead_id}-demo",
                "lead_id": lead_id,
                "activity": "demo_request",
                "occurred_at": datetime.now(UTC).isoformat(),
                "email": f"{lead_id}@initech.example",
                "profile": {**ICP, "company": f"Initech {lead_id}"},
            }
            for lead_id in lead_ids
        ]
        return lead_ids, {"source": "bench", "events": events}

    return body


class CrmReceiver:
    """A stand-in CRM: HTTP/1.1 keep-alive on asyncio streams (as lean as the sender), noting when
    each lead's assignment packet arrives. The socket listens from construction, so the handoff can
    be told its URL before the event loop that serves it runs."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.socket.getsockname()[1]}/crm"
        self.arrived: dict[str, float] = {}
        self.changed = asyncio.Event()
        self.handlers: set[asyncio.Task[None]] = set()
        self.writers: set[asyncio.StreamWriter] = set()

    async def wait_for(self, count: int, *, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            while len(self.arrived) < count:
                self.changed.clear()
                await self.changed.wait()

    async def serve(self) -> asyncio.Server:
        return await asyncio.start_server(self._connection, sock=self.socket)

    async def close(self, server: asyncio.Server) -> None:
        """Stop listening and end the open connections, so no handler is left to be cancelled."""
        server.close()
        for writer in self.writers:
            writer.close()
        await asyncio.gather(*self.handlers, return_exceptions=True)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.handlers.add(task)
        self.writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                packet = json.loads(await reader.readexactly(length))
                if packet.get("type") == "lead.assigned":
                    self.arrived.setdefault(packet["lead"]["lead_id"], time.time())
                    self.changed.set()
                writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()


async def speed_to_lead(
    handoff_url: str,
    bootstrap: str,
    *,
    leads: int,
    rate: float,
    batch: int,
    key: str,
    crm: CrmReceiver,
    expect_crm: bool,
) -> dict[str, object]:
    """`rate` is events (leads) per second, sent as `rate / batch` calls per second."""
    crm_server = await crm.serve()
    consumer = await lifecycle_tail(bootstrap)
    assigned_at: dict[str, float] = {}
    queued: set[str] = set()

    async def collect() -> None:
        while len(assigned_at) + len(queued) < leads:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    event = parse_event(record.value)
                    if event.type == EventType.LEAD_ROUTING_QUEUED:
                        queued.add(event.subject)
                    elif event.type == EventType.LIFECYCLE_CHANGED and event.data.to_state == LeadState.ASSIGNED:
                        assigned_at.setdefault(event.subject, record.timestamp / 1000)

    collector = asyncio.create_task(collect())
    wall = time.perf_counter()
    started_at, responses, errors = await open_loop(
        handoff_url, calls=leads // batch, rate=rate / batch, key=key, body=demo_requests(uuid.uuid4().hex[:6], batch)
    )
    send_seconds = time.perf_counter() - wall
    try:
        await asyncio.wait_for(collector, timeout=300)
    except TimeoutError:
        print(f"warning: only {len(assigned_at)} of {leads} leads assigned", file=sys.stderr)
    drain_seconds = time.perf_counter() - wall
    await consumer.stop()
    try:
        await crm.wait_for(len(assigned_at) if expect_crm else 0, timeout=30)
    except TimeoutError:
        print(f"warning: only {len(crm.arrived)} of {len(assigned_at)} assignments reached the CRM", file=sys.stderr)
    await crm.close(crm_server)
    latencies = [(assigned_at[lead] - started_at[lead]) * 1000 for lead in assigned_at if lead in started_at]
    to_crm = [(crm.arrived[lead] - started_at[lead]) * 1000 for lead in crm.arrived if lead in started_at]
    return {
        "latencies": latencies,
        "to_crm": to_crm,
        "responses": responses,
        "errors": errors,
        "queued": len(queued),
        "achieved_rate": leads / send_seconds,
        "drain_seconds": drain_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=5000)
    parser.add_argument("--rate", type=float, default=500.0, help="demo requests (leads) per second")
    parser.add_argument("--batch", type=int, default=10, help="events per webhook call (1 = one call per lead)")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--no-crm", action="store_true", help="no CRM webhook (the handoff's cost of sending it)")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="baton-stl-"))
    key = f"bk_bench_{secrets.token_urlsafe(24)}"
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = EmbeddedBroker(log_path=workdir / "broker.log")
        bootstrap = broker.start()
    create_topics(bootstrap, ALL_TOPICS)
    databases: list[str] = []
    services: list[ServiceProcess] = []
    crm = CrmReceiver()
    crm_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    (workdir / "bare_app.py").write_text(BARE_APP)
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
                "KAFKA_SESSION_TIMEOUT_MS": "6000",
                "ADMIN_API_KEY": key,
                "WEBHOOK_RATE_PER_SECOND": str(max(1000.0, args.rate * 4)),
                "WEBHOOK_RATE_BURST": str(max(1000, int(args.rate * 4))),
            }
            if name == "handoff" and not args.no_crm:
                env.update({"CRM_WEBHOOK_URL": crm.url, "CRM_WEBHOOK_SECRET": crm_secret})
            services.append(
                ServiceProcess(
                    name=name, module=module, port=free_port(), env=env, log_path=workdir / f"{name}.log"
                ).start()
            )
        bare_port = free_port()
        for service in services:
            service.wait_ready()
        baseline_rtt = asyncio.run(broker_round_trip(bootstrap))
        result = asyncio.run(
            speed_to_lead(
                services[1].url,
                bootstrap,
                leads=args.leads,
                rate=args.rate,
                batch=args.batch,
                key=key,
                crm=crm,
                expect_crm=not args.no_crm,
            )
        )
        services[1].terminate()  # the bare endpoint gets the cores the handoff had
        bare = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--app-dir",
                str(workdir),
                "--port",
                str(bare_port),
                "--log-level",
                "warning",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            asyncio.run(_wait_http(f"http://127.0.0.1:{bare_port}/docs"))
            _, bare_latencies, bare_errors = asyncio.run(
                open_loop(
                    f"http://127.0.0.1:{bare_port}",
                    calls=args.leads // args.batch,
                    rate=args.rate / args.batch,
                    key=None,
                    body=demo_requests("bare", args.batch),
                )
            )
        finally:
            bare.terminate()
            bare.wait(10)
    finally:
        for service in services:
            service.terminate()
        for db_name in databases:
            asyncio.run(drop_pg_database(db_name))
        if broker:
            broker.stop()
    latencies: list[float] = result["latencies"]  # type: ignore[assignment]
    to_crm: list[float] = result["to_crm"]  # type: ignore[assignment]
    responses: list[float] = result["responses"]  # type: ignore[assignment]
    figures = {
        "db": args.db,
        "leads_sent": args.leads,
        "leads_assigned": len(latencies),
        "leads_queued": result["queued"],
        "webhook_errors": result["errors"],
        "target_events_per_s": args.rate,
        "events_per_call": args.batch,
        "answered_events_per_s": round(float(result["achieved_rate"]), 1),  # type: ignore[arg-type]
        "speed_to_lead_p50_ms": round(percentile(latencies, 50), 1),
        "speed_to_lead_p99_ms": round(percentile(latencies, 99), 1),
        "speed_to_lead_mean_ms": round(statistics.fmean(latencies), 1),
        "leads_at_crm": len(to_crm),
        "webhook_response_p50_ms": round(percentile(responses, 50), 1),
        "webhook_response_p99_ms": round(percentile(responses, 99), 1),
        "bare_endpoint_p50_ms": round(percentile(bare_latencies, 50), 2),
        "bare_endpoint_p99_ms": round(percentile(bare_latencies, 99), 2),
        "bare_endpoint_errors": bare_errors,
        "broker_rtt_p50_ms": round(percentile(baseline_rtt, 50), 2),
        "broker_rtt_p99_ms": round(percentile(baseline_rtt, 99), 2),
    }
    for q, p in (("p50", 50), ("p99", 99)):
        figures[f"{q}_ratio_to_broker_rtt"] = round(figures[f"speed_to_lead_{q}_ms"] / figures[f"broker_rtt_{q}_ms"], 1)  # type: ignore[operator]
        if to_crm:
            figures[f"speed_to_crm_{q}_ms"] = round(percentile(to_crm, p), 1)
            figures[f"crm_{q}_ratio_to_broker_rtt"] = round(percentile(to_crm, p) / figures[f"broker_rtt_{q}_ms"], 1)  # type: ignore[operator]
        figures[f"{q}_ratio_to_bare_endpoint"] = round(
            figures[f"speed_to_lead_{q}_ms"] / figures[f"bare_endpoint_{q}_ms"], 1
        )  # type: ignore[operator]
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


async def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            try:
                if (await client.get(url)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise TimeoutError(url)


if __name__ == "__main__":
    main()
