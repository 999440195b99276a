"""The SLA timer: breaches running clocks when they fall due.

Several monitors may run it at once (see `breach_due_clocks`). It sleeps until the earliest due
time, at most `max_sleep_seconds` (a clock opened by another instance is seen within that), and
is woken early through `wake` when this instance's consumer commits a new clock.
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import wait_any
from baton_kit.clock import Clock
from baton_kit.db import transaction
from baton_kit.metrics import KitMetrics
from baton_kit.outbox import Outbox
from baton_sla_monitor.service import CLOCKS_BREACHED, breach_due_clocks, count_clocks, next_due_at, set_open_clocks

log = structlog.get_logger(__name__)


class SlaTimer:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        clock: Clock,
        metrics: KitMetrics,
        max_sleep_seconds: float = 5.0,
        batch_size: int = 500,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self.metrics = metrics
        self.max_sleep_seconds = max_sleep_seconds
        self.batch_size = batch_size
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            self.wake.clear()  # before the pass: a clock committed during it wakes the next wait at once
            try:
                delay = await self.tick()
                backoff = 0.1
            except Exception:  # database down: nothing breached, try again
                self.metrics.infrastructure_failures.labels(stage="sla_timer").inc()
                log.warning("sla timer pass failed; retrying", backoff_seconds=backoff, exc_info=True)
                delay, backoff = backoff, min(backoff * 2, 10.0)
            await wait_any(stop, self.wake, timeout=delay)

    async def tick(self) -> float:
        """One pass: breach what is due, refresh the open-clocks gauge; returns seconds to sleep."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            breached = await breach_due_clocks(session, outbox=self.outbox, now=now, limit=self.batch_size)
            next_due = await next_due_at(session)
            counts = await count_clocks(session)
        for clock in breached:
            CLOCKS_BREACHED.labels(kind=clock.kind).inc()
            log.info(
                "sla clock breached", lead_id=clock.lead_id, clock_id=clock.clock_id, due_at=clock.due_at.isoformat()
            )
        set_open_clocks(counts)
        if len(breached) == self.batch_size:
            return 0.0
        return seconds_until(next_due, now=self.clock.now(), cap=self.max_sleep_seconds)


def seconds_until(due_at: datetime | None, *, now: datetime, cap: float) -> float:
    if due_at is None:
        return cap
    return min(max((due_at - now).total_seconds(), 0.0), cap)
