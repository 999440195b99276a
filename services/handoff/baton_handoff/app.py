"""The handoff service process: the REST API, the `lead.scored` consumer and the outbox relay."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from baton_contracts import CloudEvent, Topic, dlq_topic, parse_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_handoff import SERVICE
from baton_handoff.leads.endpoints import router as leads_router
from baton_handoff.models import Base
from baton_handoff.qualification.service import apply_lead_scored
from baton_handoff.settings import HandoffSettings
from baton_handoff.webhooks.endpoints import router as webhooks_router
from baton_kit.clock import Clock, SystemClock
from baton_kit.http import add_ops_routes, install_problem_handlers
from baton_kit.runtime import service_runtime

MIGRATIONS = str(Path(__file__).parent / "migrations")

DESCRIPTION = """
Baton hands a B2B lead from marketing to sales and proves it happened on time.

* **Webhooks** ingest engagement events from marketing automation (202 once durable).
* **Leads**: state, score explanation and lifecycle timeline; the CRM accepts assigned leads.

Errors are `application/problem+json` (RFC 9457).
"""


def create_app(settings: HandoffSettings, *, clock: Clock | None = None) -> FastAPI:
    clock = clock or SystemClock()
    definitions = load_definitions(settings.definitions_path or EXAMPLE_PATH)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with service_runtime(
            service=SERVICE, settings=settings, clock=clock, metadata=Base.metadata, migrations=MIGRATIONS
        ) as runtime:
            app.state.runtime = runtime

            async def handle(session: AsyncSession, events: list[CloudEvent[Any]]) -> None:
                await apply_lead_scored(
                    session, events, definitions=definitions, outbox=runtime.outbox, now=clock.now()
                )

            runtime.add_consumer(
                topics=[Topic.LEAD_SCORED],
                group_id=settings.consumer_group,
                handler=handle,
                decode=parse_event,
                event_id=lambda e: e.id,
                dlq_topic=dlq_topic,
            )
            yield

    app = FastAPI(title="Baton handoff", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.definitions = definitions
    install_problem_handlers(app)
    add_ops_routes(app, readiness=lambda: app.state.runtime.readiness())
    app.include_router(webhooks_router)
    app.include_router(leads_router)
    return app
