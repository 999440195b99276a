"""The handoff service process: the REST API, the `lead.scored` consumer and the outbox relay."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_contracts import CloudEvent, Topic, dlq_topic, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_handoff import SERVICE
from baton_handoff.auth import store_bootstrap_key
from baton_handoff.crm.deliveries import router as deliveries_router
from baton_handoff.crm.delivery import CrmWebhookSender, delivery_metrics
from baton_handoff.crm.endpoints import router as crm_router
from baton_handoff.crm.service import apply_sla_events
from baton_handoff.definitions.endpoints import router as definitions_router
from baton_handoff.definitions.service import record_version
from baton_handoff.leads.endpoints import router as leads_router
from baton_handoff.models import Base
from baton_handoff.qualification.service import apply_lead_scored
from baton_handoff.reports.endpoints import router as reports_router
from baton_handoff.routing.endpoints import keys_router
from baton_handoff.routing.endpoints import router as routing_router
from baton_handoff.routing.service import drain_queue, routing_metrics, seed_roster
from baton_handoff.settings import HandoffSettings
from baton_handoff.webhooks.endpoints import install_ingestion
from baton_kit.aio import sleep_or_stop
from baton_kit.clock import Clock, SystemClock
from baton_kit.db import transaction
from baton_kit.http import add_ops_routes, install_problem_handlers
from baton_kit.runtime import service_runtime
from baton_kit.webhook_client import WebhookClient

log = structlog.get_logger(__name__)

MIGRATIONS = str(Path(__file__).parent / "migrations")

DESCRIPTION = """
Baton hands a B2B lead from marketing to sales and proves it happened on time.

* **Webhooks** ingest engagement events from marketing automation (202 once durable).
* **Leads**: state, score explanation, qualification reasons, lifecycle timeline and SLA clocks.
* **CRM**: accept, reject (reason taxonomy), first-response, disqualify, recycle, reassign, sql, opportunity,
  won, lost. Every write takes an `Idempotency-Key`: a replay returns the first response, with no second effect.
* **Routing**: the rep roster (teams, weights, capacities, working hours, out-of-office), accounts and owners
  (with bulk import), a rep's queue.
* **API keys** (`Authorization: Bearer bk_…` or `X-API-Key`): scopes `ingest`, `crm`, `read`, `admin`; a key
  bound to a rep or a team acts only on its own leads. The first admin key comes from the `ADMIN_API_KEY`
  setting.

Errors are `application/problem+json` (RFC 9457).
"""


def crm_sender(
    settings: HandoffSettings, *, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> CrmWebhookSender | None:
    """The CRM webhook's sender, when one is configured."""
    if not settings.crm_webhook_url or settings.crm_webhook_secret is None:
        return None
    return CrmWebhookSender(
        sessions=sessions,
        # a connection for each delivery in flight, kept open between passes
        client=WebhookClient(
            timeout_seconds=settings.crm_webhook_timeout_seconds, connections=settings.crm_webhook_concurrency
        ),
        url=settings.crm_webhook_url,
        secret=settings.crm_webhook_secret.get_secret_value(),
        clock=clock,
        max_attempts=settings.crm_webhook_max_attempts,
        timeout=timedelta(seconds=settings.crm_webhook_timeout_seconds),
        concurrency=settings.crm_webhook_concurrency,
        idle_seconds=settings.crm_webhook_poll_seconds,
    )


def create_app(settings: HandoffSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    definitions = load_definitions(settings.definitions_path or EXAMPLE_PATH)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE, settings=settings, clock=clock, metadata=Base.metadata, migrations=MIGRATIONS
        ) as runtime:
            app.state.runtime = runtime
            routing_metrics(), delivery_metrics()  # registered at start: their series read 0 before any event
            sender = crm_sender(settings, sessions=runtime.sessions, clock=clock)
            crm_webhook = app.state.crm_webhook = sender.wake if sender is not None else None
            for warning in definitions.definitions.warnings():
                log.warning("definitions", warning=warning, version=definitions.version)
            async with transaction(runtime.sessions) as session:
                await seed_roster(session, definitions=definitions, now=clock.now())
                await record_version(session, definitions, now=clock.now())
                admin_key = settings.admin_api_key
                if admin_key and not await store_bootstrap_key(session, admin_key.get_secret_value(), now=clock.now()):
                    log.warning("ADMIN_API_KEY was revoked through the API and stays revoked: set a new one")

            async def handle(session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
                await apply_lead_scored(
                    session,
                    events,
                    definitions=definitions,
                    outbox=runtime.outbox,
                    now=clock.now(),
                    crm_webhook=crm_webhook,
                )

            async def handle_sla(session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
                await apply_sla_events(
                    session,
                    events,
                    definitions=definitions,
                    outbox=runtime.outbox,
                    now=clock.now(),
                    crm_webhook=crm_webhook,
                )

            async def drain(stop: asyncio.Event) -> None:
                while not stop.is_set():
                    await sleep_or_stop(stop, settings.routing_queue_interval_seconds)
                    if stop.is_set():
                        return
                    try:
                        async with transaction(runtime.sessions) as session:
                            await drain_queue(
                                session,
                                definitions=definitions,
                                outbox=runtime.outbox,
                                now=clock.now(),
                                crm_webhook=crm_webhook,
                            )
                    except Exception:  # retried at the next tick; the queue is durable
                        log.exception("routing queue pass failed")

            runtime.add_consumer(
                topics=[Topic.LEAD_SCORED],
                group_id=settings.consumer_group,
                handler=handle,
                decode=parse_event,
                event_id=lambda e: e.id,
                dlq_topic=dlq_topic,
            )
            runtime.add_consumer(
                topics=[Topic.SLA_EVENTS],
                group_id=f"{settings.consumer_group}-sla",
                handler=handle_sla,
                decode=parse_event,
                event_id=lambda e: e.id,
                dlq_topic=dlq_topic,
            )
            runtime.workers.start("routing-queue", drain)
            if sender is not None:
                runtime.workers.start("crm-webhook", sender.run)
            try:
                yield
            finally:
                if sender is not None:
                    await runtime.workers.shutdown()  # the sender stops before its client closes
                    await sender.client.aclose()

    app = FastAPI(title="Baton handoff", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.definitions = definitions
    install_problem_handlers(app)
    add_ops_routes(app, readiness=lambda: app.state.runtime.readiness())
    install_ingestion(app, settings)
    app.include_router(leads_router)
    app.include_router(crm_router)
    app.include_router(deliveries_router)
    app.include_router(definitions_router)
    app.include_router(routing_router)
    app.include_router(keys_router)
    app.include_router(reports_router)
    return app
