"""Scoring keeps leads in memory between events; the database stays the truth. Two services (two
instances) share one database here, on both dialects, through the real migrations: whichever scored a
lead last, the other notices (the lead's `state_version`) and reloads it, so no event is ever left out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from baton_contracts import CloudEvent, new_event
from baton_contracts.definitions import EXAMPLE_PATH, load_definitions
from baton_contracts.events import EngagementRecorded, EventType, ProfileUpdated
from baton_kit.db import create_engine, session_factory, transaction
from baton_kit.migrations import upgrade_to_head
from baton_kit.outbox import Outbox
from baton_scoring.app import MIGRATIONS
from baton_scoring.models import Base, Lead
from baton_scoring.rules import Activity, score_lead
from baton_scoring.service import ScoringService

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
DEFINITIONS = load_definitions(EXAMPLE_PATH)
Sessions = async_sessionmaker[AsyncSession]


def engagement(lead_id: str, activity: str, hours_ago: int) -> CloudEvent[EngagementRecorded]:
    data = EngagementRecorded(
        lead_id=lead_id, activity=activity, occurred_at=NOW - timedelta(hours=hours_ago), source="tests"
    )
    return new_event(event_type=EventType.ENGAGEMENT_RECORDED, source="/tests", subject=lead_id, data=data, time=NOW)


def profile(lead_id: str) -> CloudEvent[ProfileUpdated]:
    data = ProfileUpdated(
        lead_id=lead_id,
        occurred_at=NOW - timedelta(days=1),
        source="tests",
        email="dana@acme.example",
        title="VP Data",
        employees=800,
        country="US",
        industry="Software",
    )
    return new_event(event_type=EventType.PROFILE_UPDATED, source="/tests", subject=lead_id, data=data, time=NOW)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    await upgrade_to_head(
        database_url=database_url, script_location=MIGRATIONS, version_table="alembic_version_scoring"
    )
    engine = create_engine(database_url)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def apply(service: ScoringService, sessions: Sessions, events: list[CloudEvent[Any]]) -> int:
    async with transaction(sessions) as session:
        return await service.apply_events(session, events, now=NOW)


async def stored(sessions: Sessions, lead_id: str) -> Lead:
    async with transaction(sessions) as session:
        lead = await session.get(Lead, lead_id)
        assert lead is not None
        return lead


def service(sessions: Sessions) -> ScoringService:
    dialect = sessions.kw["bind"].dialect.name
    return ScoringService(definitions=DEFINITIONS, outbox=Outbox(Base.metadata.tables["outbox"]), dialect=dialect)


async def test_an_instance_holding_a_lead_reloads_it_after_another_instance_scored_it(sessions: Sessions) -> None:
    first, second = service(sessions), service(sessions)
    events = [profile("m-1"), engagement("m-1", "webinar_attended", 5), engagement("m-1", "demo_request", 3)]
    assert await apply(first, sessions, events[:2]) == 2  # first now holds m-1 at version 2
    assert await apply(second, sessions, events[2:]) == 1  # second scores it next (as after a rebalance)
    extra = engagement("m-1", "pricing_page_view", 1)
    assert await apply(first, sessions, [extra]) == 1  # first's copy is out of date: it must reload

    lead = await stored(sessions, "m-1")
    expected = score_lead(
        lead.profile,
        [Activity(e.id, e.data.activity, e.data.occurred_at) for e in [*events[1:], extra]],
        DEFINITIONS.definitions.scoring,
        now=NOW,
    )
    assert (lead.score, lead.grade, lead.state_version) == (expected.score, expected.grade, 4)
    assert sum(c["count"] for c in lead.contributions if c["category"] == "engagement") == 3


async def test_a_duplicate_changes_nothing_and_a_rolled_back_batch_is_not_remembered(sessions: Sessions) -> None:
    scoring = service(sessions)
    webinar = engagement("m-2", "webinar_attended", 2)
    assert await apply(scoring, sessions, [profile("m-2"), webinar]) == 2
    before = await stored(sessions, "m-2")
    assert await apply(scoring, sessions, [webinar]) == 0  # redelivered: not stored again, not rescored

    demo = engagement("m-2", "demo_request", 1)

    async def fail_before_commit() -> None:
        async with transaction(sessions) as session:
            await scoring.apply_events(session, [demo], now=NOW)
            raise RuntimeError("the batch fails after scoring, before commit")

    with pytest.raises(RuntimeError):
        await fail_before_commit()
    assert (await stored(sessions, "m-2")).score == before.score  # nothing of the failed batch is stored
    # The memory saw `demo` but the database did not: the next batch notices and reloads.
    assert await apply(scoring, sessions, [demo]) == 1
    after = await stored(sessions, "m-2")
    expected = score_lead(
        after.profile,
        [Activity(e.id, e.data.activity, e.data.occurred_at) for e in (webinar, demo)],
        DEFINITIONS.definitions.scoring,
        now=NOW,
    )
    assert (after.score, after.state_version) == (expected.score, 3)
    assert after.high_intent == ["demo_request"]
