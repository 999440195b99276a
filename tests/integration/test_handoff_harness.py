"""Not tests: an in-process handoff service for the handoff integration tests (the real app, its migrations,
outbox relay, consumers) on a real database and broker, a frozen clock, and an admin key.

Scored leads are applied through the same function the `lead.scored` consumer calls, inside the
app's own sessions, so tests do not wait on Kafka for what they check.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI
from support.waits import eventually

from baton_contracts import CloudEvent, Topic, new_event
from baton_contracts.definitions import EXAMPLE_PATH
from baton_contracts.events import AccountSnapshot, EventType, LeadProfile, LeadScored
from baton_handoff.app import create_app
from baton_handoff.qualification.service import apply_lead_scored
from baton_handoff.settings import HandoffSettings
from baton_kit.clock import FrozenClock
from baton_kit.db import transaction

T0 = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York
ADMIN_KEY = "bk_admin_" + "x" * 32
ICP_PROFILE = {"email": "ana@acme.example", "company": "Acme", "country": "US", "employees": 800, "title": "VP Data"}


def scored(lead_id: str, **overrides: Any) -> LeadScored:
    """A `lead.scored` payload: an A-fit, band-3 lead with an ICP profile unless told otherwise."""
    values: dict[str, Any] = {
        "lead_id": lead_id,
        "score": 80,
        "fit_score": 40,
        "engagement_score": 40,
        "fit_grade": "A",
        "engagement_band": 3,
        "grade": "A3",
        "profile": LeadProfile(**ICP_PROFILE),
        "scored_at": T0,
        "definitions_version": "sha256:scoring",
    }
    values.update(overrides)
    if isinstance(values.get("profile"), dict):
        values["profile"] = LeadProfile(**values["profile"])
    if isinstance(values.get("account"), dict):
        values["account"] = AccountSnapshot(**values["account"])
    return LeadScored(**values)


def scored_event(data: LeadScored) -> CloudEvent[LeadScored]:
    """`data` as the `lead.scored` event scoring would publish (a fresh id each time)."""
    return new_event(event_type=EventType.LEAD_SCORED, source="/tests", subject=data.lead_id, data=data, time=T0)


@dataclass
class Handoff:
    app: FastAPI
    client: httpx.AsyncClient
    clock: FrozenClock

    async def score(self, *events: LeadScored) -> None:
        runtime = self.app.state.runtime
        async with transaction(runtime.sessions) as session:
            await apply_lead_scored(
                session,
                [scored_event(e) for e in events],
                definitions=self.app.state.definitions,
                outbox=runtime.outbox,
                now=self.clock.now(),
                crm_webhook=self.app.state.crm_webhook,
            )

    async def caught_up(self) -> None:
        """Wait until the app's `lead.scored` consumer has applied what the shared broker held before now
        (other tests' leads): a marker lead on each partition, which never qualifies, must be in.

        For a test that counts every lead of a period (reports, simulate)."""
        producer = AIOKafkaProducer(bootstrap_servers=self.app.state.runtime.settings.kafka_bootstrap_servers)
        await producer.start()
        markers: list[str] = []
        try:
            for partition in sorted(await producer.partitions_for(Topic.LEAD_SCORED)):
                lead_id = f"marker-{uuid.uuid4().hex[:8]}"
                value = scored_event(scored(lead_id, fit_grade="D", engagement_band=1, grade="D1"))
                await producer.send_and_wait(
                    Topic.LEAD_SCORED, value.model_dump_json().encode(), key=lead_id.encode(), partition=partition
                )
                markers.append(lead_id)
        finally:
            await producer.stop()

        async def applied() -> int:
            answers = [await self.client.get(f"/v1/leads/{lead_id}") for lead_id in markers]
            return sum(answer.status_code == 200 for answer in answers)

        await eventually(applied, until=lambda n: n == len(markers), timeout=30, what="the lead.scored backlog applied")

    async def lead(self, lead_id: str) -> dict[str, Any]:
        response = await self.client.get(f"/v1/leads/{lead_id}")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]


def write_definitions(path: Path, overrides: dict[str, dict[str, Any]]) -> str:
    document = yaml.safe_load(EXAMPLE_PATH.read_text())
    for section, values in overrides.items():
        document[section] = {**document[section], **values}
    path.write_text(yaml.safe_dump(document))
    return str(path)


@asynccontextmanager
async def running_handoff(
    *,
    database_url: str,
    kafka_bootstrap: str,
    tmp_path: Path,
    definitions: dict[str, dict[str, Any]] | None = None,
    env: dict[str, Any] | None = None,
) -> AsyncIterator[Handoff]:
    settings = HandoffSettings(
        database_url=database_url,
        kafka_bootstrap_servers=kafka_bootstrap,
        http_port=8000,
        consumer_group=f"handoff-test-{uuid.uuid4().hex[:8]}",
        # A short session: the embedded broker answers a group join after about half of it, and a
        # test's shutdown waits for a join in flight.
        kafka_session_timeout_ms=2_000,
        definitions_path=write_definitions(tmp_path / "definitions.yaml", definitions or {}),
        **{"admin_api_key": ADMIN_KEY, **(env or {})},
    )
    clock = FrozenClock(T0)
    app = create_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://handoff", headers={"Authorization": f"Bearer {ADMIN_KEY}"}
        ) as client:
            yield Handoff(app=app, client=client, clock=clock)
