"""The SLA monitor process: consumer of `lead.lifecycle`, SLA timer, outbox relay, and a small read API."""

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
from baton_kit.http import add_ops_routes, install_problem_handlers
from baton_kit.runtime import service_runtime
from baton_sla_monitor import SERVICE
from baton_sla_monitor.endpoints import router
from baton_sla_monitor.models import Base
from baton_sla_monitor.service import apply_lifecycle
from baton_sla_monitor.settings import SlaMonitorSettings
from baton_sla_monitor.timer import SlaTimer

MIGRATIONS = str(Path(__file__).parent / "migrations")


def create_app(settings: SlaMonitorSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    definitions = load_definitions(settings.definitions_path or EXAMPLE_PATH)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE, settings=settings, clock=clock, metadata=Base.metadata, migrations=MIGRATIONS
        ) as runtime:
            app.state.runtime = runtime
            timer = SlaTimer(sessions=runtime.sessions, outbox=runtime.outbox, clock=clock, metrics=runtime.metrics)

            async def handle(session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
                await apply_lifecycle(
                    session,
                    events,
                    definitions=definitions,
                    outbox=runtime.outbox,
                    now=clock.now(),
                    on_clock_opened=timer.wake.set,
                )

            runtime.add_consumer(
                topics=[Topic.LEAD_LIFECYCLE],
                group_id=settings.consumer_group,
                handler=handle,
                decode=parse_event,
                event_id=lambda e: e.id,
                dlq_topic=dlq_topic,
            )
            runtime.workers.start("sla-timer", timer.run)
            yield

    app = FastAPI(
        title="Baton SLA monitor",
        version="0.1.0",
        lifespan=lifespan,
        description="SLA clocks started and stopped by `lead.lifecycle`; breaches and outcomes on `sla.events`.",
    )
    install_problem_handlers(app)
    add_ops_routes(app, readiness=lambda: app.state.runtime.readiness())
    app.include_router(router)
    return app
