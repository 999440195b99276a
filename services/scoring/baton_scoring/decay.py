"""The decay review: a worker that finds, in the database, leads whose stored review time has come and
rescores them, so a lead whose engagement band decays below a boundary gets a new `lead.scored` even
when it does nothing. No in-memory timers: the due times live in `leads.review_at`, so a restart or
another instance picks up where this one stopped."""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_kit.aio import sleep_or_stop
from baton_kit.clock import Clock
from baton_kit.db import transaction
from baton_kit.metrics import KitMetrics
from baton_scoring.service import ScoringService

log = structlog.get_logger(__name__)


class DecayReview:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        service: ScoringService,
        clock: Clock,
        metrics: KitMetrics,
        interval_seconds: float,
        batch: int,
    ) -> None:
        self.sessions = sessions
        self.service = service
        self.clock = clock
        self.metrics = metrics
        self.interval_seconds = interval_seconds
        self.batch = batch

    async def run_once(self) -> tuple[int, int]:
        """One transaction: review up to `batch` due leads; returns (reviewed, emitted)."""
        async with transaction(self.sessions) as session:
            return await self.service.review_due(session, now=self.clock.now(), limit=self.batch)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                reviewed, emitted = await self.run_once()
            except Exception:  # database down: nothing committed, try again next round
                self.metrics.infrastructure_failures.labels(stage="decay_review").inc()
                log.warning("decay review failed; retrying", exc_info=True)
                reviewed = 0
            else:
                if emitted:
                    log.info("decay review emitted new scores", reviewed=reviewed, emitted=emitted)
            if reviewed < self.batch:
                await sleep_or_stop(stop, self.interval_seconds)
