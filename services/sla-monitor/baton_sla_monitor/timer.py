"""The SLA timer: fires warnings, breaches, escalations and reassignment requests when they fall due.

Several monitors may run it at once (see `fire_due_steps`). It sleeps until the earliest due step
(but at least `min_interval_seconds` after a pass that fired something), at most `max_sleep_seconds`
(a clock opened by another instance is seen within that), and is woken early through `wake` when
this instance's consumer commits a new or changed clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import wait_any
from baton_kit.clock import Clock
from baton_kit.db import transaction
from baton_kit.metrics import KitMetrics
from baton_kit.outbox import Outbox
from baton_sla_monitor.service import (
    Fired,
    count_fired,
    count_open_by_policy,
    fire_due_steps,
    next_due_at,
    set_open_clocks,
)

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
        on_alerts_queued: Callable[[], None] | None = None,
        on_fired: Callable[[list[Fired]], None] | None = None,
        gauge_every_seconds: float = 5.0,
        min_interval_seconds: float = 0.05,
    ) -> None:
        self.sessions = sessions
        self.outbox = outbox
        self.clock = clock
        self.metrics = metrics
        self.max_sleep_seconds = max_sleep_seconds
        self.batch_size = batch_size
        self.on_alerts_queued = on_alerts_queued
        self.on_fired = on_fired
        self.gauge_every_seconds = gauge_every_seconds
        self.min_interval_seconds = min_interval_seconds
        self._gauge_at: datetime | None = None
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.1
        while not stop.is_set():
            self.wake.clear()  # before the pass: a clock committed during it wakes the next wait at once
            try:
                delay = await self.tick()
                backoff = 0.1
            except Exception:  # database down, or a lock lost to another instance: nothing fired, try again
                self.metrics.infrastructure_failures.labels(stage="sla_timer").inc()
                log.warning("sla timer pass failed; retrying", backoff_seconds=backoff, exc_info=True)
                delay, backoff = backoff, min(backoff * 2, 10.0)
            await wait_any(stop, self.wake, timeout=delay)

    async def tick(self) -> float:
        """One pass: fire what is due, refresh the open-clocks gauge now and then; returns seconds to sleep."""
        now = self.clock.now()
        async with transaction(self.sessions) as session:
            fired = await fire_due_steps(session, outbox=self.outbox, now=now, limit=self.batch_size)
            next_due = await next_due_at(session)
            counts = None
            if self._gauge_at is None or (now - self._gauge_at).total_seconds() >= self.gauge_every_seconds:
                counts = await count_open_by_policy(session)
                self._gauge_at = now
        count_fired(fired)
        if fired and self.on_fired is not None:
            self.on_fired(fired)
        if counts is not None:
            set_open_clocks(counts)
        if fired and self.on_alerts_queued is not None:
            self.on_alerts_queued()
        if len({f.clock.clock_id for f in fired}) >= self.batch_size:
            return 0.0
        wait = seconds_until(next_due, now=self.clock.now(), cap=self.max_sleep_seconds)
        # Clocks due a few ms apart share one transaction instead of one each: at most 50 ms added to a step's
        # delay, and far fewer commits (each an fsync) under load.
        return max(wait, self.min_interval_seconds) if fired else wait


def seconds_until(due_at: datetime | None, *, now: datetime, cap: float) -> float:
    if due_at is None:
        return cap
    return min(max((due_at - now).total_seconds(), 0.0), cap)
