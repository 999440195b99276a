"""The SLA monitor process: consumer of `lead.lifecycle`, SLA timer, outbox relay, and a small read API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic, dlq_topic, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_kit.clock import Clock, SystemClock
from baton_kit.http import add_ops_routes, install_problem_handlers
from baton_kit.runtime import service_runtime
from baton_sla_monitor import SERVICE
from baton_sla_monitor.calendars import check_calendar, knows_country
from baton_sla_monitor.delivery import ChannelConfig, DeliveryWorker
from baton_sla_monitor.endpoints import router
from baton_sla_monitor.models import Base
from baton_sla_monitor.service import apply_lifecycle
from baton_sla_monitor.settings import SlaMonitorSettings
from baton_sla_monitor.timer import SlaTimer

MIGRATIONS = str(Path(__file__).parent / "migrations")
log = structlog.get_logger(__name__)


def create_app(settings: SlaMonitorSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    definitions = load_definitions(settings.definitions_path or EXAMPLE_PATH)
    for calendar in definitions.definitions.sla.calendars.values():
        check_calendar(calendar)  # an unknown holiday country fails start-up, not the first clock
    for rep in definitions.definitions.routing.reps:
        if rep.country and not knows_country(rep.country):
            log.warning(
                "no public holidays known for a rep's country; the calendar's own apply",
                rep=rep.id,
                country=rep.country,
            )
    channels = channel_config(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE, settings=settings, clock=clock, metadata=Base.metadata, migrations=MIGRATIONS
        ) as runtime:
            app.state.runtime = runtime
            app.state.definitions = definitions
            delivery = DeliveryWorker(sessions=runtime.sessions, clock=clock, config=channels)
            timer = SlaTimer(
                sessions=runtime.sessions,
                outbox=runtime.outbox,
                clock=clock,
                metrics=runtime.metrics,
                max_sleep_seconds=settings.timer_max_sleep_seconds,
                on_alerts_queued=delivery.wake.set,
            )

            def on_clock_changed() -> None:
                timer.wake.set()
                delivery.wake.set()  # a stopped clock may have queued resolves

            async def handle(session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
                await apply_lifecycle(
                    session,
                    events,
                    definitions=definitions,
                    outbox=runtime.outbox,
                    now=clock.now(),
                    on_clock_opened=on_clock_changed,
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
            runtime.workers.start("sla-alert-delivery", delivery.run)
            yield

    app = FastAPI(
        title="Baton SLA monitor",
        version="0.1.0",
        lifespan=lifespan,
        description="SLA clocks started and stopped by `lead.lifecycle`; breaches and outcomes on `sla.events`. "
        "An internal API with no authentication: keep it on a private network.",
    )
    install_problem_handlers(app)
    add_ops_routes(app, readiness=lambda: app.state.runtime.readiness())
    app.include_router(router)
    return app


def channel_config(settings: SlaMonitorSettings) -> ChannelConfig:
    return ChannelConfig(
        pagerduty_url=settings.pagerduty_url,
        pagerduty_routing_key=settings.pagerduty_routing_key,
        alertmanager_url=settings.alertmanager_url,
        slack_webhook_url=settings.slack_webhook_url,
        webhook_url=settings.webhook_url,
        webhook_secret=settings.webhook_secret,
        max_attempts=settings.delivery_max_attempts,
        backoff_seconds=settings.delivery_backoff_seconds,
        max_backoff_seconds=settings.delivery_max_backoff_seconds,
        timeout_seconds=settings.delivery_timeout_seconds,
    )
