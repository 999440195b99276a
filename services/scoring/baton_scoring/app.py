"""The scoring service process: consumer of `lead.engagement`, decay review, outbox relay, and a read API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic, dlq_topic, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_kit.clock import Clock, SystemClock
from baton_kit.db import transaction
from baton_kit.http import add_ops_routes, install_problem_handlers
from baton_kit.runtime import service_runtime
from baton_scoring import SERVICE
from baton_scoring.decay import DecayReview
from baton_scoring.endpoints import router
from baton_scoring.models import Base
from baton_scoring.service import PreparedBatch, ScoringService
from baton_scoring.settings import ScoringSettings

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(settings: ScoringSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    definitions = load_definitions(settings.definitions_path or EXAMPLE_PATH)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE, settings=settings, clock=clock, metadata=Base.metadata, migrations=MIGRATIONS
        ) as runtime:
            app.state.runtime = runtime
            app.state.definitions = definitions

            service = ScoringService(
                definitions=definitions,
                outbox=runtime.outbox,
                dialect=runtime.engine.dialect.name,
                memory_limit=settings.lead_memory_limit,
            )
            app.state.scoring = service
            async with transaction(runtime.sessions) as session:
                await service.review_on_new_definitions(session, now=clock.now())

            async def prepare(events: list[CloudEvent[Any]]) -> PreparedBatch:
                return await service.prepare(events, now=clock.now())

            async def handle(session: AsyncSession, batch: PreparedBatch) -> int:
                return await service.apply(session, batch, now=clock.now())

            runtime.add_consumer(
                topics=[Topic.LEAD_ENGAGEMENT],
                group_id=settings.consumer_group,
                handler=handle,
                decode=parse_event,
                event_id=lambda e: e.id,
                dlq_topic=dlq_topic,
                own_inbox=True,  # the events tables are keyed by event id: a duplicate is never stored twice
                on_rebalance=service.memories.clear,  # leads of partitions this instance may lose or gain
                prepare=prepare,  # score from memory before the transaction opens ...
                pipelined=True,  # ... while the previous batch's transaction runs
                on_abandoned=service.memories.clear,  # a batch given up: memory holds events never stored
            )
            review = DecayReview(
                sessions=runtime.sessions,
                service=service,
                clock=clock,
                metrics=runtime.metrics,
                interval_seconds=settings.decay_review_interval_seconds,
                batch=settings.decay_review_batch,
            )
            runtime.workers.start("decay-review", review.run)
            yield

    app = FastAPI(
        title="Baton scoring",
        version="0.2.0",
        lifespan=lifespan,
        description=(
            "Lead scores and their explanations. Scores are computed from `lead.engagement` (engagement and "
            "profile events) under the shared definitions: ICP fit (never decays), engagement points with "
            "per-rule half-lives and caps, demand state, and the lead's account. Every score names the "
            "definitions version it used. An internal API with no authentication: keep it on a private "
            "network; CRMs and reps read leads through the handoff's API."
        ),
    )
    install_problem_handlers(app)
    add_ops_routes(app, readiness=lambda: app.state.runtime.readiness())
    app.include_router(router)
    return app
