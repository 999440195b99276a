"""SLA timer precision: N open clocks with due times spread over a few minutes, fired by the monitor's
precise timer (sleeps until the next due step, batches of 500) and, in the same run on an identical
database, by a fixed 60-second polling loop (the baseline: how hourly/daily CRM jobs behave, at 60 s).

For each: p50/p99/max firing delay after the due time (measured when the firing transaction committed),
CPU seconds and peak RSS of the process running the timer (a child process per mode, so the figures are
its own). Clocks are breach-only wall-time clocks (one step each); the outbox fills but is not relayed.

    python bench/sla_timer.py                       # 100,000 clocks over 180 s (≈ 7 minutes in all)
    python bench/sla_timer.py --quick               # 10,000 clocks over 30 s
    python bench/sla_timer.py --db postgresql       # BATON_BENCH_POSTGRES, default postgres@127.0.0.1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import create_pg_database
from sqlalchemy import insert

from baton_contracts.definitions import SlaPolicy
from baton_contracts.events import SlaClockKind
from baton_kit.clock import SystemClock
from baton_kit.db import create_engine, session_factory, transaction
from baton_kit.logging import configure_logging
from baton_kit.metrics import kit_metrics
from baton_kit.migrations import upgrade_to_head
from baton_kit.outbox import Outbox
from baton_sla_monitor.app import MIGRATIONS
from baton_sla_monitor.models import Base, SlaClockRecord
from baton_sla_monitor.rules import ClockPlan, open_clock
from baton_sla_monitor.service import Fired, copy_to_row
from baton_sla_monitor.timer import SlaTimer

POLL_SECONDS = 60.0


class PollingTimer(SlaTimer):
    """The baseline: wake every 60 s whatever is due; drain the backlog in batches when woken."""

    async def tick(self) -> float:
        delay = await super().tick()
        return 0.0 if delay == 0.0 else POLL_SECONDS


async def prepare(url: str, *, clocks: int, start: datetime, spread: float) -> None:
    await upgrade_to_head(database_url=url, script_location=MIGRATIONS, version_table="alembic_version_sla_monitor")
    engine = create_engine(url)
    policy = SlaPolicy(name="bench", target_seconds=1)
    plan = ClockPlan(warnings_percent=())
    rows: list[dict[str, Any]] = []
    for n in range(clocks):
        due = start + timedelta(seconds=spread * n / clocks)
        clock = open_clock(
            lead_id=f"lead-{n}",
            kind=SlaClockKind.ACCEPTANCE,
            policy=policy,
            rep_id="rep",
            at=due - timedelta(seconds=1),
            cause_event_id="bench",
            plan=plan,
        )
        record = SlaClockRecord(clock_id=clock.clock_id, definitions_version="bench")
        copy_to_row(clock, record)
        rows.append({c.key: getattr(record, c.key) for c in SlaClockRecord.__table__.columns})
    async with transaction(session_factory(engine)) as session:
        for offset in range(0, len(rows), 5000):
            await session.execute(insert(SlaClockRecord), rows[offset : offset + 5000])
    await engine.dispose()


def run_timer(url: str, mode: str, clocks: int, first_due: float, deadline: float, results: Any) -> None:
    """Child process: run one timer until every clock fired (or the deadline); report delays, CPU, RSS."""
    configure_logging(level="WARNING")  # a log line per fired step would dominate the CPU figure
    delays: list[float] = []
    started: list[float] = []

    def on_fired(fired: list[Fired]) -> None:
        committed = datetime.now(UTC)
        delays.extend((committed - f.step.due_at).total_seconds() for f in fired)

    async def main() -> None:
        engine = create_engine(url)
        cls = SlaTimer if mode == "precise" else PollingTimer
        timer = cls(
            sessions=session_factory(engine),
            outbox=Outbox(Base.metadata.tables["outbox"]),
            clock=SystemClock(),
            metrics=kit_metrics(f"bench-{mode}"),
            on_fired=on_fired,
            gauge_every_seconds=3600,
        )
        stop = asyncio.Event()
        started.append(time.time())
        task = asyncio.create_task(timer.run(stop))
        while len(delays) < clocks and time.time() < deadline:  # noqa: ASYNC110 - polling a plain list
            await asyncio.sleep(0.5)
        stop.set()
        timer.wake.set()
        await task
        await engine.dispose()

    cpu_before = time.process_time()
    asyncio.run(main())
    results.put(
        {
            "delays": delays,
            "cpu_seconds": time.process_time() - cpu_before,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "slack_s": first_due - started[0],
        }
    )


def summarise(delays: list[float]) -> dict[str, float]:
    ordered = sorted(delays)

    def pct(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 3)

    return {
        "fired": len(ordered),
        "p50_delay_s": pct(50),
        "p99_delay_s": pct(99),
        "max_delay_s": round(ordered[-1], 3),
        "mean_delay_s": round(statistics.fmean(ordered), 3),
    }


async def make_database(db: str, tmp: Path, name: str) -> str:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp / name}.db"
    return await create_pg_database(f"baton_bench_{name}_{uuid.uuid4().hex[:8]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clocks", type=int, default=100_000)
    parser.add_argument("--spread", type=float, default=180.0, help="seconds over which the due times spread")
    parser.add_argument("--quick", action="store_true", help="10,000 clocks over 30 s")
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = parser.parse_args()
    if args.quick:
        args.clocks, args.spread = 10_000, 30.0
    report: dict[str, Any] = {"clocks": args.clocks, "spread_seconds": args.spread, "db": args.db}
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("precise", "poll_60s"):
            url = asyncio.run(make_database(args.db, Path(tmp), mode))
            lead = 15.0 + args.clocks / 3_000  # inserting and starting the child must end before the first is due
            start = datetime.now(UTC) + timedelta(seconds=lead)
            asyncio.run(prepare(url, clocks=args.clocks, start=start, spread=args.spread))
            print(json.dumps({mode: {"prepared_with_slack_s": round((start - datetime.now(UTC)).total_seconds(), 1)}}))
            deadline = time.time() + (start - datetime.now(UTC)).total_seconds() + args.spread + POLL_SECONDS + 120
            results: multiprocessing.Queue[Any] = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(
                target=run_timer, args=(url, mode, args.clocks, start.timestamp(), deadline, results)
            )
            child.start()
            outcome = results.get()
            child.join()
            report[mode] = {
                **summarise(outcome["delays"]),
                "cpu_seconds": round(outcome["cpu_seconds"], 1),
                "peak_rss_mb": round(outcome["peak_rss_mb"], 1),
                "timer_started_before_first_due_s": round(outcome["slack_s"], 1),
            }
            print(json.dumps({mode: report[mode]}), flush=True)
    precise, poll = report["precise"], report["poll_60s"]
    report["ratios"] = {
        "p99_delay_poll_over_precise": round(poll["p99_delay_s"] / max(precise["p99_delay_s"], 1e-3), 1),
        "cpu_precise_over_poll": round(precise["cpu_seconds"] / max(poll["cpu_seconds"], 1e-3), 2),
        "rss_precise_over_poll": round(precise["peak_rss_mb"] / max(poll["peak_rss_mb"], 1e-3), 2),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
